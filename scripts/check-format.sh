#!/usr/bin/env bash
# Checks that the C sources follow .clang-format (GStreamer's style, see the
# file), with clang-format 14 (Debian 12's; other versions format slightly
# differently). Lists the files that differ and how to fix them.
#   scripts/check-format.sh          check (meson test --suite format runs this)
#   scripts/check-format.sh --fix    format them in place
# Covered: every C file of gst-plugin/, src/, tools/, tests/, docs/examples/.
set -uo pipefail
cd "$(dirname "$0")/.."

formatter=""
for candidate in clang-format-14 clang-format; do
  if command -v "$candidate" >/dev/null &&
      "$candidate" --version | grep -q 'version 14\.'; then
    formatter=$candidate
    break
  fi
done
if [ -z "$formatter" ]; then
  echo "check-format: clang-format 14 not found; install it: apt-get install clang-format-14" >&2
  exit 1
fi

mapfile -t files < <(git ls-files -- 'gst-plugin/*.[ch]' 'src/*.[ch]' 'tools/*.[ch]' \
    'tests/*.[ch]' 'docs/examples/*.[ch]')
# Files not yet committed are checked as well when they are in these folders.
mapfile -t -O "${#files[@]}" files < <(git ls-files --others --exclude-standard -- \
    'gst-plugin/*.[ch]' 'src/*.[ch]' 'tools/*.[ch]' 'tests/*.[ch]' 'docs/examples/*.[ch]')

if [ "${1:-}" = --fix ]; then
  "$formatter" -i "${files[@]}"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  "$formatter" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  echo "check-format: ${#bad[@]} of ${#files[@]} files differ from .clang-format:"
  printf '  %s\n' "${bad[@]}"
  echo "fix: scripts/check-format.sh --fix (or $formatter -i FILE)"
  exit 1
fi
echo "check-format: ${#files[@]} files follow .clang-format ($formatter)"
