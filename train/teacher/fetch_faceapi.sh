#!/bin/sh
# Fetches the teacher: face-api's FaceExpressionNet weights (and the original's browser bundle,
# used only by reference_outputs.mjs to make the test fixture) from the npm package
# @vladmandic/face-api@1.7.15 (MIT), pinned by version and by the tarball's sha256.
#
#   train/teacher/fetch_faceapi.sh DEST
#
# Leaves DEST/model/face_expression_model-weights_manifest.json, DEST/model/face_expression_model.bin,
# DEST/model/face_landmark_68_model-weights_manifest.json, DEST/model/face_landmark_68_model.bin,
# DEST/dist/face-api.esm.js, DEST/package.json and DEST/LICENSE.
# The tarball comes through scripts/npm-extract-pinned.sh (cached, verified).
# Exit status: 0 done; 77 npm or its registry cannot be reached (meson's "skip"); 1 anything else,
# a checksum mismatch above all.
set -eu

package=@vladmandic/face-api@1.7.15
tarball=vladmandic-face-api-1.7.15.tgz
sha256=0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031
members="package/model/face_expression_model-weights_manifest.json package/model/face_expression_model.bin
package/model/face_landmark_68_model-weights_manifest.json package/model/face_landmark_68_model.bin
package/dist/face-api.esm.js package/package.json package/LICENSE"

dest=${1:?usage: fetch_faceapi.sh DEST}
mkdir -p "$dest"

if [ -s "$dest/model/face_expression_model.bin" ] && [ -s "$dest/model/face_landmark_68_model.bin" ] &&
   [ -s "$dest/dist/face-api.esm.js" ]; then
  exit 0
fi

# shellcheck disable=SC2086 # the member list is split on purpose
"$(dirname "$0")/../../scripts/npm-extract-pinned.sh" "$package" "$tarball" "$sha256" "$dest" $members
echo "fetch_faceapi: $package (FaceExpressionNet weights + dist/face-api.esm.js) in $dest"
