#!/usr/bin/env bash
# The default model, end to end, as models/README.md reports it: fetch the videos, the stills and the
# teacher; render the stills as expression videos; cut every clip with the element; train; fit the
# temperature on the validation video; export the F16 file with the C parity check; validate.
#
#   train/make_default_model.sh WORKDIR [OUT.safetensors]
#
# Needs a built checkout (meson setup build && ninja -C build: the element cuts the clips, the C tool
# checks the export). Seeded throughout. About 2 hours on a 2-core machine: cutting the clips is
# about 30 minutes, training 40 minutes per run (two run side by side on the two cores).
# franck.webm is validation only: its first 100 s are cut (--max-seconds 100), never trained on, and
# nothing after 100 s is decoded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
work=${1:?usage: make_default_model.sh WORKDIR [OUT.safetensors]}
out=${2:-$work/adatosk-tiny-faceapi.safetensors}
py=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1          # Debian's threaded OpenBLAS busy-waits beside --threads 1
export GST_PLUGIN_PATH=${GST_PLUGIN_PATH:-$root/build/gst-plugin}
mkdir -p "$work"
cd "$work"

faceapi=${ADATOSK_FACEAPI_DIR:-$HOME/.cache/adatoskdfer/face-api}
"$here/teacher/fetch_faceapi.sh" "$faceapi"
"$root/tests/media/fetch-media.sh" media
"$here/fetch_stills.sh" stills-src

# Stills -> expression videos (identities held out by a seeded shuffle).
[ -f stills/identities.json ] ||
  $py "$here/render_stills.py" --out stills --holdout 24 --seed 0 $(cat stills-src/stills.txt)

# Clips cut by the element, labelled per frame by the teacher.
cut () {  # OUT ARGS...
  local dest=$1; shift
  [ -f "$dest/clips.csv" ] || $py "$here/make_dataset.py" --out "$dest" --teacher "$faceapi" "$@"
}
cut ds/cap12 --clip-stride 2 media/cap12_edit.webm
cut ds/cap13 media/cap13_edit2.webm
cut ds/franck100 --max-seconds 100 media/franck.webm
cut ds/stills_hold stills/holdout/*/
cut ds/stills_train stills/train/*/

# Training: the recipe models/README.md chose (see it for the others it was compared with).
$py "$here/train.py" --train ds/cap12/clips.csv --train ds/stills_train/clips.csv \
  --val ds/franck100/clips.csv --out run --steps 1000 --batch 8 --lr 5e-4 --warmup 100 \
  --balanced --balance-power 0.5 --ema 0.998 --threads 1 --seed 0 --eval-every 250 --quiet \
  ${RECIPE_FLAGS:---frame-targets 1.0 --adversary 0.3 --color-aug --balance-identity 0.5}

# Temperature on the validation video, folded into the head; then the F16 file, checked against C.
$py "$here/calibrate.py" run/model.safetensors ds/franck100/clips.csv --out run/calibrated.safetensors \
  --json run/calibration.json
$py "$here/export.py" run/calibrated.safetensors --out "$out" --dtype f16 --clips ds/cap13/clips.csv \
  --n-clips 4 --tool "$root/build/tools/adatosk" --name adatosk-tiny-faceapi
$py "$here/validate.py" "$out" --set franck100=ds/franck100/clips.csv --set cap13=ds/cap13/clips.csv \
  --set stills_hold=ds/stills_hold/clips.csv --json validation.json --markdown validation.md
echo "make_default_model: $out"
