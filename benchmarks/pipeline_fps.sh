#!/usr/bin/env bash
# Frames per second of the whole pipeline on the real face video, with and
# without facedetect, beside decoding alone, and the real-time factor.
#
#   benchmarks/pipeline_fps.sh [MODEL [REPEATS]]     or   ninja -C build bench-pipeline
#
# MODEL absent: a random-weight adatosk-tiny (16 frames of 112x112) made by the
# PyTorch reference. Needs a build (BUILD_DIR, default "build"; under ninja,
# the build that runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath -m "${BUILD_DIR:-${MESON_BUILD_ROOT:-build}}")
model=${1:-}
export GST_PLUGIN_PATH="$build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

tests/media/fetch-media.sh "$build/media" >/dev/null
if [ -z "$model" ]; then
  model=$build/demo-adatosk-tiny.safetensors
  [ -f "$model" ] || /usr/bin/python3 train/make_model.py --config adatosk-tiny \
    --seed 1 --no-decoder --test-weights --out "$model" >/dev/null
fi
"$build/gst-plugin/pipeline-fps" "$build/media/cap12_edit.webm" "$model" "${2:-1}" \
  2> >(grep -v -e 'haarcascade_mcs_' -e 'persistence.cpp' >&2)
