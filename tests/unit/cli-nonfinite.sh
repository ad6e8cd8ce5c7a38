#!/usr/bin/env bash
# `adatosk run` on a clip with one NaN: exit status 1 and the library's
# message on stderr (naming the place), no label on stdout, from the cpu
# backend and, where a Vulkan device exists, from vulkan with the same
# message.
# usage: cli-nonfinite.sh ADATOSK FIXTURE_DIR
set -euo pipefail
tool=$1 fixture=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# float 100 of the clip (channel 0, frame 0, row 1 or 2, ...) becomes a NaN.
/usr/bin/python3 - "$fixture/clip.f32" "$tmp/nan.f32" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], 'rb').read())
data[400:404] = struct.pack('<f', float('nan'))
open(sys.argv[2], 'wb').write(data)
PY

check () {  # BACKEND: the run must fail with the message; prints it
  local backend=$1 status=0
  "$tool" run "$fixture/model.safetensors" "$tmp/nan.f32" --backend "$backend" \
    >"$tmp/out" 2>"$tmp/err" || status=$?
  if [ "$status" -ne 1 ]; then
    echo "adatosk run --backend $backend: exit $status, want 1"; cat "$tmp/out" "$tmp/err"; exit 1
  fi
  if grep -q '^label:' "$tmp/out"; then
    echo "adatosk run --backend $backend printed a label for a NaN clip"; cat "$tmp/out"; exit 1
  fi
  grep -q 'the clip has a NaN at channel 0, frame 0, .*(float 100 of' "$tmp/err" || {
    echo "adatosk run --backend $backend: unexpected message:"; cat "$tmp/err"; exit 1; }
  cat "$tmp/err"
}

cpu=$(check cpu)
echo "cpu:    $cpu"
if "$tool" run "$fixture/model.safetensors" "$fixture/clip.f32" --backend vulkan >/dev/null 2>&1; then
  vulkan=$(check vulkan)
  echo "vulkan: $vulkan"
  [ "$cpu" = "$vulkan" ] || { echo "the backends' messages differ"; exit 1; }
elif [ "${ADATOSK_TEST_REQUIRE_VULKAN:-}" = 1 ]; then
  echo "no Vulkan device, but ADATOSK_TEST_REQUIRE_VULKAN=1"; exit 1
else
  echo "vulkan: no device here, not checked"
fi
