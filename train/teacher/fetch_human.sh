#!/bin/sh
# Fetches the second teacher: @vladmandic/human's emotion net (a tfjs graph model, FER2013 classes)
# and the tfjs bundle it ships (used only by reference_emotion.mjs to make the test fixture) from
# the npm package @vladmandic/human@3.3.6 (MIT), pinned by version and by the tarball's sha256.
#
#   train/teacher/fetch_human.sh DEST
#
# Leaves DEST/models/emotion.json, DEST/models/emotion.bin, DEST/dist/tfjs.esm.js,
# DEST/package.json and DEST/LICENSE. The tarball comes through scripts/npm-extract-pinned.sh
# (cached, verified; fetch_stills.sh takes its photos from the same tarball).
# Exit status: 0 done; 77 npm or its registry cannot be reached (meson's "skip"); 1 anything else,
# a checksum mismatch above all.
set -eu

package=@vladmandic/human@3.3.6
tarball=vladmandic-human-3.3.6.tgz
sha256=425e9c51dbbca0c8934362b170cb0d54c2529c11c654b3c03092b16e9d6ad3f7
members="package/models/emotion.json package/models/emotion.bin package/dist/tfjs.esm.js
package/package.json package/LICENSE"

dest=${1:?usage: fetch_human.sh DEST}
mkdir -p "$dest"

if [ -s "$dest/models/emotion.bin" ] && [ -s "$dest/models/emotion.json" ] && [ -s "$dest/dist/tfjs.esm.js" ]; then
  exit 0
fi

# shellcheck disable=SC2086 # the member list is split on purpose
"$(dirname "$0")/../../scripts/npm-extract-pinned.sh" "$package" "$tarball" "$sha256" "$dest" $members
echo "fetch_human: $package (emotion net + dist/tfjs.esm.js) in $dest"
