#!/usr/bin/env python3
# Compiles one GLSL compute shader to SPIR-V with glslc and checks the module
# with spirv-val, so that a module the driver would reject fails the build.
#   compile_shader.py GLSLC SPIRV_VAL INPUT.comp OUTPUT.spv DEPFILE [-DNAME ...]
# SPDX-License-Identifier: LGPL-2.1-or-later
import subprocess
import sys

TARGET_ENV = 'vulkan1.0'


def main(argv):
    if len(argv) < 6:
        sys.exit('usage: compile_shader.py GLSLC SPIRV_VAL INPUT OUTPUT DEPFILE [-D...]')
    glslc, spirv_val, source, output, depfile = argv[1:6]
    defines = argv[6:]
    subprocess.run([glslc, f'--target-env={TARGET_ENV}', '-fshader-stage=compute',
                    '-O', '-Werror', '-MD', '-MF', depfile, *defines, source, '-o', output],
                   check=True)
    subprocess.run([spirv_val, '--target-env', TARGET_ENV, output], check=True)


if __name__ == '__main__':
    try:
        main(sys.argv)
    except subprocess.CalledProcessError as e:
        sys.exit(e.returncode or 1)
