#!/usr/bin/env python3
"""Writes an assembly file that embeds a model file in the plugin:
    embed_model.py MODEL OUTPUT.S
The file's sha256 goes into a comment, so that the object is rebuilt whenever
the model changes (an .incbin'd file is not a dependency the compiler
records)."""
import hashlib
import os
import sys

model, output = sys.argv[1], sys.argv[2]
with open(model, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()
path = os.path.abspath(model).replace("\\", "\\\\").replace('"', '\\"')
with open(output, "w") as out:
    out.write(f"""/* {os.path.basename(model)}, sha256 {digest} */
    .section .rodata
    .balign 64
    .globl adatosk_dfer_default_model_start
    .hidden adatosk_dfer_default_model_start
    .globl adatosk_dfer_default_model_end
    .hidden adatosk_dfer_default_model_end
adatosk_dfer_default_model_start:
    .incbin "{path}"
adatosk_dfer_default_model_end:
    .section .note.GNU-stack,"",%progbits
""")
