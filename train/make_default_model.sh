#!/usr/bin/env bash
# The default model, end to end, as models/README.md reports it: fetch the videos, the stills and the
# teacher; render the stills as expression videos; cut every clip with the element; train; fit the
# temperature on the validation video; export the F16 file with the C parity check; validate.
#
#   train/make_default_model.sh WORKDIR [OUT.safetensors]
#
# Needs a built checkout (meson setup build && ninja -C build: the element cuts the clips, the C tool
# checks the export). Seeded throughout. On a 2-core machine cutting the clips takes about 30 minutes
# (the stills: 140 videos of 240 frames), training about 4 clips/s with one thread.
# franck.webm is validation only: its first 100 s are cut (--max-seconds 100), never trained on, and
# nothing after 100 s is decoded.
# TRAIN_FLAGS are added to the last stage's train.py (they win), e.g. on a GPU:
#   TRAIN_FLAGS="--device cuda --workers 8 --mmap --steps 20000" RECIPE=WM make_default_model.sh W
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
human=${ADATOSK_HUMAN_DIR:-$HOME/.cache/adatoskdfer/human}
"$here/teacher/fetch_human.sh" "$human"

# Stills -> expression videos (identities held out by a seeded shuffle).
# shellcheck disable=SC2046 # one photo path a line, split on purpose
[ -f stills/identities.json ] ||
  $py "$here/render_stills.py" --out stills --holdout 24 --seed 0 --exclude stills-src/excluded.txt \
    $(cat stills-src/stills.txt)

# Blends of two training identities each (never a held-out or validation person): new faces.
case ${RECIPE:-T} in Y|YX3C|YZ|YZB)
  [ -f blends/identities.json ] || $py "$here/render_blends.py" stills --out blends --count 150 --seed 0 ;;
esac

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
if [ -d blends/train ]; then cut ds/blends --jobs 2 blends/train/*/; fi

# Training. RECIPE=T (default) is the shipped model's (S, then T); v1 is the first default model's
# (cap12 only); A, B, D1, D2, E, F, S, T7, W, WM, X1, X3, X10, X3C, Y, YX3C, Z, YZ, YZB are the other recipes that models/README.md compares on
# people not in training.
# E, F and T train on the centre 0.8 of every clip (the element's crop margin 0.1, recorded in the
# model), T7 on the centre 0.7 (margin 0.025).
common="--batch 8 --lr 5e-4 --warmup 100 --balanced --balance-power 0.5 --ema 0.998 --threads 1 --seed 0 --quiet"
stills="--train ds/cap12/clips.csv --train ds/stills_train/clips.csv --val ds/franck100/clips.csv"
s_flags="--train ds/stills_train/clips.csv --val ds/franck100/clips.csv --steps 1200 --eval-every 300 --zoom-out 0.6 --frame-targets 1.0 --adversary 0.3 --color-aug --balance-identity 0.5"
# Stages on from another run's weights (--init) at half the learning rate; T and U at the centre 0.8.
on_flags="$s_flags --lr 2.5e-4 --warmup 50"
t_flags="$on_flags --init run-S/model.safetensors --crop-scale 0.8 --steps 900"
# The clips of a set whose top class the second teacher shares with face-api, found once.
agreed () {  # SET
  [ -f "$1/clips_agreed.csv" ] || $py "$here/second_opinion.py" "$1/clips.csv" --human "$human" \
    --out "$1/clips_agreed.csv" --json "$1/second_opinion.json"
}
# A stage another recipe starts from, trained once.
stage () {  # RUN FLAGS...
  local dest=$1; shift
  # shellcheck disable=SC2086 # common is a flag list
  [ -f "$dest/model.safetensors" ] || $py "$here/train.py" $common "$@" --out "$dest"
}
recipe=${RECIPE:-T}
# shellcheck disable=SC2086 # the flag lists are split on purpose
case $recipe in
  v1) flags="--train ds/cap12/clips.csv --val ds/cap13/clips.csv --steps 4000 --eval-every 400" ;;
  A) flags="$stills --steps 1000 --eval-every 250" ;;
  B) flags="$stills --steps 1000 --eval-every 250 --frame-targets 1.0 --adversary 0.3 --color-aug --balance-identity 0.5" ;;
  D1) flags="$stills --steps 800 --eval-every 200 --zoom-out 0.6 --color-aug" ;;
  D2) flags="$stills --steps 800 --eval-every 200 --zoom-out 0.6 --frame-targets 1.0 --adversary 0.3 --color-aug --balance-identity 0.5" ;;
  E) flags="$stills --steps 2400 --eval-every 400 --crop-scale 0.8 --frame-targets 1.0 --adversary 0.3 --color-aug --balance-identity 0.5" ;;
  F) flags="$stills --steps 1500 --eval-every 500 --crop-scale 0.8 --frame-targets 1.0 --adversary 0.3 --color-aug --balance-identity 0.5 --within-identity 10 --cls-weight 0.3" ;;
  # S: the still identities alone (no cap12: the one real video at franck's framing is one man).
  S) flags="$s_flags" ;;
  # T, T7: S's weights trained on at a tighter crop (the face larger in the 112 px input).
  T|T7) stage run-S $s_flags
    flags="$t_flags"
    if [ "$recipe" = T7 ]; then flags="$on_flags --init run-S/model.safetensors --crop-scale 0.7 --steps 600"; fi ;;
  # W, WM: T's weights trained on with the teacher online (function matching), WM with mixup too.
  W|WM) stage run-S $s_flags
    stage run-T $t_flags
    flags="$on_flags --init run-T/model.safetensors --crop-scale 0.8 --steps 750 --eval-every 250 --online-teacher $faceapi"
    if [ "$recipe" = WM ]; then flags="$flags --mixup 0.4"; fi ;;
  # X1, X3, X10: T's stage with the teacher's feature maps as per-token targets at weight 1, 3, 10;
  # X3C: X3 with cap12 in training as well.
  X1|X3|X10) stage run-S $s_flags
    flags="$t_flags --token-targets ${recipe#X}" ;;
  X3C) stage run-S $s_flags
    flags="$t_flags --token-targets 3 --train ds/cap12/clips.csv" ;;
  # Y: T's stage with 150 blended identities added; YX3C: X3C's with them.
  Y) stage run-S $s_flags
    flags="$t_flags --train ds/blends/clips.csv" ;;
  YX3C) stage run-S $s_flags
    flags="$t_flags --token-targets 3 --train ds/cap12/clips.csv --train ds/blends/clips.csv" ;;
  # Z: T's stage on the training clips whose top class face-api and human's emotion net share;
  # YZ: the same with the agreed blends as well; YZB: YZ with neutral and happy sampled more evenly.
  Z|YZ|YZB) stage run-S $s_flags
    agreed ds/stills_train
    flags=${t_flags//ds\/stills_train\/clips.csv/ds\/stills_train\/clips_agreed.csv}
    if [ "$recipe" != Z ]; then agreed ds/blends; flags="$flags --train ds/blends/clips_agreed.csv"; fi
    if [ "$recipe" = YZB ]; then flags="$flags --balance-power 0.8"; fi ;;
  *) echo "make_default_model: RECIPE is T (default), v1, A, B, D1, D2, E, F, S, T7, W, WM, X1, X3, X10, X3C, Y, YX3C, Z, YZ or YZB" >&2
    exit 2 ;;
esac
# shellcheck disable=SC2086 # the flag lists are split on purpose; a recipe's flags win over common's
$py "$here/train.py" $common $flags ${TRAIN_FLAGS:-} --out run

# The F16 file, checked against C before it is written. A recipe for other people also gets a
# temperature fitted on the held-out still identities (folded into the head; franck stays a pure
# test of it); v1 does not (models/README.md, Calibration).
model=run/model.safetensors
if [ "$recipe" != v1 ]; then
  $py "$here/calibrate.py" run/model.safetensors ds/stills_hold/clips.csv --out run/calibrated.safetensors \
    --json run/calibration.json
  model=run/calibrated.safetensors
fi
$py "$here/export.py" "$model" --out "$out" --dtype f16 --clips ds/cap13/clips.csv \
  --n-clips 4 --tool "$root/build/tools/adatosk" --name adatosk-tiny-faceapi
$py "$here/validate.py" "$out" --set franck100=ds/franck100/clips.csv --set cap13=ds/cap13/clips.csv \
  --set stills_hold=ds/stills_hold/clips.csv --json validation.json --markdown validation.md
echo "make_default_model: $out"
