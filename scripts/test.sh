#!/usr/bin/env bash
# Builds from this checkout and runs the whole test suite twice: the normal
# build (-Werror), then the C tests again under AddressSanitizer + UBSan.
# Ends with the line "N passed, N failed, N skipped" summed over both runs.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD_DIR:-$root/build}
asan=${ASAN_BUILD_DIR:-$root/build-asan}
jobs=$(nproc)

configure () {  # DIR ARGS...: configure once, reconfigure when it exists
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
  else meson setup "$dir" "$@" >/dev/null; fi
}

# On CI a missing Vulkan driver is a broken setup, not a reason to skip.
if [ "${CI:-}" = true ]; then export ADATOSK_TEST_REQUIRE_VULKAN=1; fi

status=0
configure "$build" -Dwerror=true -Dbuildtype=release || exit 1
ninja -C "$build" || exit 1
meson test -C "$build" --print-errorlogs --num-processes "$jobs" || status=1

# Sanitizers on the C code; the element's own memory checks run in the normal
# build (valgrind), since a sanitized plugin cannot load into a plain process.
configure "$asan" -Dwerror=true -Dbuildtype=debug -Db_sanitize=address,undefined \
  -Db_lundef=false -Dgst-plugin=disabled || exit 1
ninja -C "$asan" || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C "$asan" --print-errorlogs --num-processes "$jobs" \
  --no-suite python --no-suite format || status=1

/usr/bin/python3 "$root/scripts/count_results.py" \
  "$build/meson-logs/testlog.json" "$asan/meson-logs/testlog.json"
exit $status
