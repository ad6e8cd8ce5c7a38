#!/usr/bin/env bash
# Many faces and many streams through adatoskdfer (benchmarks/many_faces.c):
# the real face video tiled 5 x 5 (one stream, up to 25 face ROIs) and many
# streams of the real video (one face each, one shared model), batch 1
# against batched, sync and async, from a file (as fast as it goes) or live
# (25 fps; async drops what the model cannot keep up with). One process per
# row, so each row's max RSS is its own. Prints a Markdown table.
#
#   benchmarks/many_faces.sh [ROW ...]     ROW = layout:faces:mode:batch:source
#                                          (default: the table of
#                                          benchmarks/results/many-faces.md)
# Environment: BUILD_DIR (the plugin measured, default "build"); BENCH_DIR
# (where many-faces is built, default BUILD_DIR); MODEL (default the shipped
# adatosk-tiny); VIDEO_SECONDS (default 12: the first 12 s of the video).
# Upstream ROIs come from one facedetect pass, cached with the tiled video
# in BENCH_DIR/many-faces: the detector's time is not in the rows.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath -m "${BUILD_DIR:-build}")
bench=$(realpath -m "${BENCH_DIR:-$build}")
model=${MODEL:-models/adatosk-tiny-faceapi.safetensors}
seconds=${VIDEO_SECONDS:-12}
export GST_PLUGIN_PATH="$build/gst-plugin${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
work=$bench/many-faces
mkdir -p "$work"

tests/media/fetch-media.sh "$work" >/dev/null
video=$work/cap12_edit.webm
boxes=$work/cap12-boxes.txt
tiled=$work/cap12-tiled5x5.webm
quiet() { grep -v -e 'haarcascade_mcs_' -e 'persistence.cpp' >&2 || true; }

if [ ! -s "$boxes" ]; then
  "$bench/gst-plugin/many-faces" boxes "$video" "$boxes.tmp" 2> >(quiet)
  mv "$boxes.tmp" "$boxes"
fi
if [ ! -s "$tiled" ]; then
  # 25 copies at 160x120 (0.4 of 400x300) in one 800x600 VP8 stream; the
  # ROIs of many_faces.c assume this grid and scale.
  grid=5 tw=160 th=120
  p="filesrc location=$video ! decodebin ! videoconvert ! videoscale !"
  p+=" video/x-raw,width=$tw,height=$th ! tee name=t compositor name=c"
  for ((i = 0; i < grid * grid; i++)); do
    p+=" sink_$i::xpos=$(((i % grid) * tw)) sink_$i::ypos=$(((i / grid) * th))"
  done
  p+=" ! video/x-raw,width=$((grid * tw)),height=$((grid * th)) ! videoconvert !"
  p+=" vp8enc deadline=1 target-bitrate=6000000 ! webmmux ! filesink location=$tiled.tmp"
  for ((i = 0; i < grid * grid; i++)); do p+=" t. ! queue ! c.sink_$i"; done
  # shellcheck disable=SC2086 # the pipeline is split into words on purpose
  gst-launch-1.0 -q $p
  mv "$tiled.tmp" "$tiled"
fi

rows=("$@")
if [ ${#rows[@]} -eq 0 ]; then
  rows=(tiled:1:async:8:file tiled:8:async:1:file tiled:8:async:8:file
    tiled:16:async:1:file tiled:16:async:8:file tiled:16:sync:1:file
    tiled:16:sync:8:file tiled:25:async:8:file streams:8:async:1:file
    streams:8:async:8:file streams:16:async:8:file tiled:16:async:1:live
    tiled:16:async:8:live)
fi

echo "many-faces: $(nproc) CPUs, model $model, first $seconds s of $video; $(uptime)"
echo
echo "| layout | faces | mode | batch | source | frames | clips | dropped | forwards | wall s | real-time | faces/s | clips/s | max RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  IFS=: read -r layout faces mode batch source <<<"$row"
  "$bench/gst-plugin/many-faces" run "$tiled" "$video" "$boxes" "$model" \
    "$layout" "$faces" "$mode" "$batch" "$source" "$seconds" 2> >(quiet)
done
echo
echo "$(uptime)"
