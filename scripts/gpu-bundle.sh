#!/usr/bin/env bash
# Builds here what scripts/gpu-check.sh runs, for a GPU machine that cannot build
# it (no glslc, Vulkan headers or OpenBLAS there, and nothing to install them
# from): one compressed folder with the release programs, every shared library
# they load apart from the C library itself (the Vulkan loader and OpenBLAS
# included), vulkaninfo, and the PyTorch parity fixtures. The GPU's own Vulkan
# driver is the one thing it must find there.
#
#   scripts/gpu-bundle.sh [--build DIR (/tmp/adatosk-gpu-build)] [--out DIR (.gpu-bundle)]
#
# On the GPU machine, from a checkout of the same commit:
#   tar -C /tmp -xJf .gpu-bundle/bundle.tar.xz && scripts/gpu-check.sh --prebuilt /tmp/adatosk-bundle
# .gpu-bundle is ignored by git (it is a build output); the device tool carries it.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="${TMPDIR:-/tmp}/adatosk-gpu-build"
out="$root/.gpu-bundle"
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,/SPDX/p' "$0" | grep -v SPDX; exit 0 ;;
    *) echo "gpu-bundle: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

[ -f "$build/build.ninja" ] || meson setup "$build" "$root" -Dbuildtype=release
programs=(tools/adatosk-vulkan-bench tests/vulkan/test_vk_ops tests/vulkan/test_vk_context
          tests/vulkan/test_vk_forward tests/vulkan/test_vk_parity)
ninja -C "$build" src/libadatosk.so "${programs[@]}" tests/unit/parity

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
bundle="$stage/adatosk-bundle"
mkdir -p "$bundle/bin" "$bundle/lib"
for p in "${programs[@]}"; do cp "$build/$p" "$bundle/bin/"; done
command -v vulkaninfo >/dev/null && cp "$(command -v vulkaninfo)" "$bundle/bin/"
cp -r "$build/tests/unit/parity" "$bundle/parity"

# Every library the programs load, resolved here, except glibc's and the C++
# runtime (the GPU machine's newer ones run programs linked against Debian 12's,
# and an older libstdc++ on the library path would break its PyTorch).
for f in "$bundle"/bin/* "$build/src/libadatosk.so"; do ldd "$f"; done |
  awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
  grep -Ev '/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$bundle/lib/"; done
cp -L "$build/src/libadatosk.so" "$bundle/lib/"
git -C "$root" rev-parse HEAD >"$bundle/commit"

mkdir -p "$out"
tar -C "$stage" -cJf "$out/bundle.tar.xz" adatosk-bundle
echo "gpu-bundle: $out/bundle.tar.xz ($(du -h "$out/bundle.tar.xz" | cut -f1)," \
     "$(ls "$bundle/lib" | wc -l) libraries, commit $(cut -c1-7 "$bundle/commit"))"
