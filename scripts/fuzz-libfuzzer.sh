#!/usr/bin/env bash
# Fuzzes the model loader with clang's coverage-guided libFuzzer, under
# AddressSanitizer and UBSan, for longer than the test suite's short
# mutation run (tests/fuzz/, meson test fuzz-model-load). The target is the
# same file, tests/fuzz/fuzz_model_load.c; its contract is written there.
#   scripts/fuzz-libfuzzer.sh [SECONDS] [WORKDIR]    default 60 s, /tmp/adatosk-fuzz
# Crashes land in WORKDIR as crash-*; replay one with
#   WORKDIR/fuzz-model-load WORKDIR/crash-...
# Needs clang with compiler-rt (Debian 12: clang-14), glib, json-glib, OpenBLAS.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
work=${2:-/tmp/adatosk-fuzz}
cc=$(command -v clang-14 || command -v clang || true)
if [ -z "$cc" ]; then
  echo "fuzz-libfuzzer: clang not found; install it: apt-get install clang-14" >&2
  exit 1
fi
mkdir -p "$work/corpus"

# The loader and the CPU forward (the target runs accepted models), without
# Vulkan: compiled into the fuzzer so libFuzzer sees their coverage.
# src/cpu/simd.h turns off its target_clones under ASan by gcc's macro, which
# clang does not define; clang 14 leaves those clones unresolved, so say it.
sources=(src/*.c src/cpu/*.c)
flags=(-std=c11 -D_GNU_SOURCE -D__SANITIZE_ADDRESS__=1 -g -O1 -Isrc -Itests/model -Itests/fuzz
  $(pkg-config --cflags glib-2.0 json-glib-1.0 openblas))
libs=($(pkg-config --libs glib-2.0 json-glib-1.0 openblas) -lm -lpthread)

"$cc" "${flags[@]}" -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined "${sources[@]}" tests/fuzz/fuzz_model_load.c \
  "${libs[@]}" -o "$work/fuzz-model-load"
# The seed files come from the mutation driver (valid tiny models).
"$cc" "${flags[@]}" "${sources[@]}" tests/fuzz/fuzz_model_load.c \
  tests/fuzz/mutate_main.c tests/model/st_builder.c "${libs[@]}" \
  -o "$work/write-seeds"
"$work/write-seeds" --write-seeds "$work/seeds"

OPENBLAS_NUM_THREADS=1 "$work/fuzz-model-load" -max_total_time="$seconds" \
  -dict=tests/fuzz/model_header.dict -max_len=262144 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$work/seeds"
