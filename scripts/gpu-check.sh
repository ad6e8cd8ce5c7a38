#!/usr/bin/env bash
# One short run on a GPU machine that gives every number at once, or says why
# not before spending the time:
#   1. vulkaninfo --summary, the device libadatosk chooses, whether PyTorch has CUDA;
#   2. refuses a CPU Vulkan device (lavapipe) unless --allow-cpu-device;
#   3. builds libadatosk, the Vulkan tests and the benchmark (release), runs the
#      Vulkan tests on the chosen device (validation layer where installed);
#   4. runs adatosk-vulkan-bench --no-cpu --profile under a time limit and writes
#      every table to benchmarks/results/vulkan-<card>-<date>.md (and to $OUT when
#      the device tool's output folder is set): the forward for each kernel variant
#      (gpu: vec4 GEMM + attention_gpu; cpu: the lavapipe-tuned kernels, on a GPU
#      what ran before the GPU variants), side by side, a per-kernel table each,
#      and the GEMMs per vec4 tile shape;
#   5. where PyTorch has CUDA: the training's CUDA test (mixed precision follows
#      the CPU) and train.py's seconds per step on the GPU against the CPU.
# A machine that cannot build (no glslc, Vulkan headers or OpenBLAS) runs what
# scripts/gpu-bundle.sh built elsewhere: --prebuilt DIR (the unpacked bundle).
# The model weights are made on the machine from a seed; nothing is carried.
#
#   scripts/gpu-check.sh [--allow-cpu-device] [--device N] [--build DIR (/tmp/adatosk-gpu-build)]
#                        [--prebuilt DIR] [--config NAME] [--bench-timeout S] [--skip-tests]
#                        [--skip-training] [--skip-train-bench]
# On lavapipe with --allow-cpu-device it runs adatosk-tiny at keep 0.5 with one
# timed forward (the whole script in about 3-4 minutes on 2 cores); on a GPU,
# adatosk-b at keep 1.0 and 0.5.
# SPDX-License-Identifier: LGPL-2.1-or-later
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="${TMPDIR:-/tmp}/adatosk-gpu-build"   # outside the tree: nothing to carry back
device=""
allow_cpu=0
config=""
bench_timeout=""
skip_tests=0
skip_training=0
skip_train_bench=0
prebuilt=""
while [ $# -gt 0 ]; do
  case "$1" in
    --allow-cpu-device) allow_cpu=1 ;;
    --device) device="$2"; shift ;;
    --build) build="$2"; shift ;;
    --config) config="$2"; shift ;;
    --bench-timeout) bench_timeout="$2"; shift ;;
    --skip-tests) skip_tests=1 ;;
    --skip-training) skip_training=1 ;;
    --skip-train-bench) skip_train_bench=1 ;;
    --prebuilt) prebuilt=$(cd "$2" && pwd) || exit 2; shift ;;
    -h|--help) sed -n '2,/SPDX/p' "$0" | grep -v SPDX; exit 0 ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
start=$(date +%s)
step() { echo; echo "== $* ($(( $(date +%s) - start )) s)"; }

step "Vulkan devices (vulkaninfo --summary)"
if command -v vulkaninfo >/dev/null; then
  timeout 60 vulkaninfo --summary 2>&1 | sed -n '/^Devices:/,$p'
else
  echo "vulkaninfo is missing (package vulkan-tools; scripts/setup.sh installs it)"
fi

step "PyTorch"
# The first python that imports torch: Debian's python3-torch is /usr/bin/python3,
# a GPU image's is often the python3 on PATH.
python=""
for candidate in "$(command -v python3)" /usr/bin/python3; do
  if [ -x "$candidate" ] && timeout 120 "$candidate" -c 'import torch' 2>/dev/null; then
    python=$candidate; break
  fi
done
python=${python:-/usr/bin/python3}
echo "python: $python"
torch_line=$(timeout 120 "$python" -c '
import torch
cuda = torch.cuda.is_available()
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, " +
      (f"device {torch.cuda.get_device_name(0)}" if cuda else "no CUDA device: the PyTorch columns will be -"))
' 2>&1 | tail -1)
echo "${torch_line:-no PyTorch: the PyTorch columns will be -}"

# Runs one of the built programs (with the bundle's libraries, if any).
run_built() { env "${built_env[@]}" "$@"; }

if [ -n "$prebuilt" ]; then
  step "Prebuilt programs ($prebuilt, commit $(cut -c1-7 "$prebuilt/commit" 2>/dev/null))"
  # Only the bundle's programs get its libraries: PyTorch must keep its own.
  built_env=(LD_LIBRARY_PATH="$prebuilt/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  bench="$prebuilt/bin/adatosk-vulkan-bench"
  have_parity=1
  [ -x "$prebuilt/bin/vulkaninfo" ] && ! command -v vulkaninfo >/dev/null &&
    run_built "$prebuilt/bin/vulkaninfo" --summary 2>&1 | sed -n '/^Devices:/,$p'
else
  step "Build ($build, release)"
  built_env=()
  if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" -Dbuildtype=release >"$build.setup.log" 2>&1 ||
      { tail -20 "$build.setup.log"; echo "gpu-check: meson setup failed"; exit 1; }
  fi
  targets="src/libadatosk.so tools/adatosk-vulkan-bench tests/vulkan/test_vk_ops
    tests/vulkan/test_vk_context tests/vulkan/test_vk_forward tests/vulkan/test_vk_parity"
  have_parity=0
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    targets="$targets tests/unit/parity"
    have_parity=1
  fi
  # shellcheck disable=SC2086
  ninja -C "$build" $targets >"$build.ninja.log" 2>&1 ||
    { tail -30 "$build.ninja.log"; echo "gpu-check: build failed"; exit 1; }
  bench="$build/tools/adatosk-vulkan-bench"
fi

step "Chosen device"
dev_args=()
[ -n "$device" ] && dev_args=(--device "$device")
[ -n "$device" ] && export ADATOSK_VULKAN_DEVICE="$device"
probe=$(run_built "$bench" --probe "${dev_args[@]}" 2>&1)
probe_rc=$?
echo "$probe"
card=$(echo "$probe" | sed -n 's/^device: //p' | head -1)
if [ $probe_rc -eq 3 ]; then
  if [ $allow_cpu -eq 0 ]; then
    echo "gpu-check: the chosen Vulkan device is a CPU device; is the GPU's Vulkan driver"
    echo "installed (e.g. the NVIDIA driver's libnvidia-gl / nvidia_icd.json)? --device N"
    echo "picks another; --allow-cpu-device runs on this one anyway (small sizes)."
    exit 3
  fi
  cpu_device=1
elif [ $probe_rc -ne 0 ]; then
  echo "gpu-check: no usable Vulkan device"; exit 1
else
  cpu_device=0
fi

slug=$(echo "${card%% (*}" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9\n' '-' | sed 's/--*/-/g; s/^-//; s/-$//')
mkdir -p "$root/benchmarks/results"
results="$root/benchmarks/results/vulkan-${slug:-unknown}-$(date -u +%Y%m%d-%H%M).md"
{
  echo "# Vulkan check on $card"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(if [ -n "$prebuilt" ]; then cut -c1-7 "$prebuilt/commit"; else git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'; fi), scripts/gpu-check.sh"
  echo
  echo "- PyTorch: ${torch_line:-not installed}"
  echo "- Vulkan devices: $(run_built "${prebuilt:+$prebuilt/bin/}vulkaninfo" --summary 2>/dev/null | sed -n 's/^\s*deviceName *= *//p' | paste -sd ';' -)"
  # What a cooperative-matrix (tensor core) GEMM would need (src/vulkan/README.md, "Plan").
  echo "- Extensions for fp16 arithmetic: $(run_built "${prebuilt:+$prebuilt/bin/}vulkaninfo" 2>/dev/null |
    grep -oE 'VK_(NV|KHR)_cooperative_matrix[a-z0-9_]*|VK_EXT_subgroup_size_control|VK_KHR_shader_float16_int8' |
    sort -u | paste -sd ' ' -)"
} >"$results"

# The Vulkan tests of tests/vulkan/meson.build, run as meson would run them,
# for a bundle (no meson build there); the same summary lines as meson test.
run_prebuilt_tests() {
  local n=0 ok=0 fail=0 rc b="$prebuilt/bin"
  one() {   # name, then env assignments and the command
    local name=$1 t0 r; shift
    n=$((n + 1)); t0=$(date +%s)
    timeout 300 env ADATOSK_VULKAN_VALIDATION=auto ADATOSK_TEST_REQUIRE_VULKAN=1 \
        "${built_env[@]}" "$@" >"$build.$name.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then ok=$((ok + 1)); r=OK; else fail=$((fail + 1)); r="FAIL (exit $rc)"; fi
    printf ' %d/7 %-32s %s %ds\n' $n "$name" "$r" $(( $(date +%s) - t0 ))
    [ $rc -eq 0 ] || tail -20 "$build.$name.log"
  }
  one test_vk_context "$b/test_vk_context"
  one test_vk_ops "$b/test_vk_ops"
  one test_vk_forward "$b/test_vk_forward"
  one test_vk_forward_gpu_variants ADATOSK_VULKAN_GEMM=gpu ADATOSK_VULKAN_ATTENTION=gpu \
      ADATOSK_VULKAN_COMPUTE_UNITS=2 "$b/test_vk_forward" variants
  one test_vk_forward_cpu_variants ADATOSK_VULKAN_GEMM=cpu ADATOSK_VULKAN_ATTENTION=cpu \
      ADATOSK_VULKAN_COMPUTE_UNITS= "$b/test_vk_forward" variants
  one test_vk_parity "$b/test_vk_parity" "$prebuilt/parity"
  one spec_constants_agree "$python" "$root/tests/vulkan/check_spec_constants.py" \
      "$root/src/spec_constants.h" "$root/train/adatosk/model.py"
  echo "Ok: $ok"; echo "Fail: $fail"
  [ $fail -eq 0 ]
}

status=0
mkdir -p "$(dirname "$build")"
if [ $skip_tests -eq 0 ]; then
  step "Vulkan tests on $card"
  tests="test_vk_ops test_vk_context test_vk_forward test_vk_forward_gpu_variants
         test_vk_forward_cpu_variants spec_constants_agree"
  [ $have_parity -eq 1 ] && tests="$tests test_vk_parity"
  if [ -n "$prebuilt" ]; then
    run_prebuilt_tests >"$build.tests.log" 2>&1
    test_rc=$?
    grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):' "$build.tests.log"
  else
    # shellcheck disable=SC2086
    ADATOSK_TEST_REQUIRE_VULKAN=1 timeout 600 meson test -C "$build" --no-rebuild \
        --print-errorlogs $tests 2>&1 | tee "$build.tests.log" | grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):'
    test_rc=${PIPESTATUS[0]}
  fi
  [ $test_rc -ne 0 ] && status=1
  summary=$(grep -E '^(Ok|Fail|Skipped|Timeout):' "$build.tests.log" | tr -s ' ' | paste -sd ',' -)
  echo "- Vulkan tests: ${summary:-no summary} (exit $test_rc)" >>"$results"
  grep -h "validation" "$build/meson-logs/testlog.txt" 2>/dev/null | grep -m1 "not installed" |
    sed 's/^/- /' >>"$results"
fi
echo >>"$results"

step "Benchmark on $card"
if [ $cpu_device -eq 1 ]; then
  bench_args=(--config "${config:-adatosk-tiny}" --keeps 0.5 --repeat 1 --warmup-ms 0
              --time-limit 100 --allow-cpu-device)
  bench_timeout=${bench_timeout:-150}
else
  bench_args=(--config "${config:-adatosk-b}" --keeps 1.0,0.5 --repeat 20 --warmup-ms 1000
              --time-limit 150)
  bench_timeout=${bench_timeout:-210}
fi
# The peer runs without the bundle's libraries (they would shadow PyTorch's).
peer_python="$build.python"
printf '#!/bin/sh\nunset LD_LIBRARY_PATH\nexec %s "$@"\n' "$python" >"$peer_python"
chmod +x "$peer_python"
timeout "$bench_timeout" env "${built_env[@]}" "$bench" "${dev_args[@]}" --no-cpu --profile "${bench_args[@]}" \
    --peer "$root/benchmarks/vulkan_bench_peer.py" --python "$peer_python" --out "$results"
bench_rc=$?
if [ $bench_rc -ne 0 ]; then
  status=1
  echo "(the benchmark exited with $bench_rc$([ $bench_rc -eq 124 ] && echo ': killed by the '"$bench_timeout"' s timeout'))" |
    tee -a "$results"
fi

if [ $skip_training -eq 0 ] && "$python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  step "Training on CUDA"
  timeout 300 env PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1 "$python" -m pytest -q -p no:cacheprovider \
      "$root/tests/python/test_distributed.py" -k cuda >"$build.train-test.log" 2>&1 || status=1
  tail -40 "$build.train-test.log"
  echo "- Training's CUDA test (tests/python/test_distributed.py -k cuda): $(tail -1 "$build.train-test.log")" >>"$results"
  [ $skip_train_bench -eq 1 ] ||
    timeout 240 "$python" "$root/benchmarks/train_step_peer.py" --out "$results" || status=1
fi

step "Done"
echo "tables: $results"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  cp "$results" "$build.tests.log" "$OUT"/ 2>/dev/null
  [ -n "$prebuilt" ] && (cd "$(dirname "$build")" && tar -czf "$OUT/test-logs.tgz" "$(basename "$build")".*.log)
  echo "copied to \$OUT ($OUT)"
fi
echo "gpu-check: $([ $status -eq 0 ] && echo ok || echo 'FAILED (see above)') in $(( $(date +%s) - start )) s"
exit $status
