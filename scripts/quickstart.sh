#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine: installs the packages, builds, and
# runs the adatoskdfer element on a real face video, printing the expressions
# it finds per clip (scripts/demo.sh says which model it uses), and leaves the
# video with the results drawn on it in build/cap12-annotated.webm.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${BUILD_DIR:-build}
if [ -f "$build/build.ninja" ]; then meson setup --reconfigure "$build" -Dbuildtype=release >/dev/null
else meson setup "$build" -Dbuildtype=release >/dev/null; fi
ninja -C "$build" >/dev/null
BUILD_DIR=$build bash scripts/demo.sh "$@"
