#!/usr/bin/python3
"""The spec's named constants agree between C/GLSL and Python.

  check_spec_constants.py SRC/spec_constants.h TRAIN/adatosk/model.py

src/spec_constants.h is what C and the shaders include; train/adatosk/model.py is the PyTorch
reference. Read as text (no torch import), compared as numbers.
"""
import re
import sys

# C/GLSL name -> the reference's name
PAIRS = {"ADATOSK_MASK_EPS": "MASK_EPS"}


def main(header, model):
    c_values = dict(re.findall(r"^#define\s+(ADATOSK_\w+)\s+([0-9.eE+-]+)\s*$",
                               open(header).read(), re.M))
    py_values = dict(re.findall(r"^(\w+)\s*=\s*([0-9.eE+-]+)\b", open(model).read(), re.M))
    failures = 0
    for c_name, py_name in PAIRS.items():
        c, py = c_values.get(c_name), py_values.get(py_name)
        ok = c is not None and py is not None and float(c) == float(py)
        print(f"{c_name} = {c} ({header}), {py_name} = {py} ({model}): "
              f"{'agree' if ok else 'DIFFER'}")
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
