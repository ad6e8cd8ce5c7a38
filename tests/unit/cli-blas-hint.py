"""The CPU backend's device string says when OpenBLAS chose pre-AVX kernels on a CPU with AVX2 and
FMA (OpenBLAS 0.3.21 does so on CPUs it does not recognise, e.g. this project's VMs, 2.5x slower
products), or kernels without AVX-512 on an Intel CPU with it (SkylakeX's ran 1.9x faster than
Haswell's there), and says nothing when it chose fitting ones. OPENBLAS_CORETYPE forces the
choice.

  cli-blas-hint.py ADATOSK_TOOL FIXTURE_DIR     (exit 77: not an x86-64 CPU with AVX2 and FMA)
"""

import json
import os
import subprocess
import sys


def device(tool, fixture, core):
    env = dict(os.environ, OPENBLAS_CORETYPE=core)
    out = subprocess.run([tool, "run", os.path.join(fixture, "model.safetensors"),
                          os.path.join(fixture, "clip.f32"), "--backend", "cpu", "--json"],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["device"]


def main(tool, fixture):
    flags, vendor = set(), ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("vendor_id") and not vendor:
                vendor = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if not {"avx2", "fma"} <= flags:
        print("skip: the CPU lacks AVX2 or FMA, so no kernel choice is wrong")
        return 77
    avx512 = vendor == "GenuineIntel" and {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags
    remedy = "OPENBLAS_CORETYPE=SkylakeX" if avx512 else "OPENBLAS_CORETYPE=Haswell"
    slow, avx2 = device(tool, fixture, "Prescott"), device(tool, fixture, "Haswell")
    print(f"Prescott: {slow}\nHaswell: {avx2}")
    assert slow.startswith("OpenBLAS Prescott") and remedy in slow, slow
    assert avx2.startswith("OpenBLAS Haswell"), avx2
    if avx512:
        assert "OPENBLAS_CORETYPE=SkylakeX" in avx2, avx2
        fast = device(tool, fixture, "SkylakeX")
        print(f"SkylakeX: {fast}")
        assert fast.startswith("OpenBLAS SkylakeX") and "OPENBLAS_CORETYPE" not in fast, fast
    else:
        assert "OPENBLAS_CORETYPE" not in avx2, avx2
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
