#!/bin/sh
# Runs docs/examples/read-results on the real face video and checks that it
# printed classified clips. Exit 77 (skip) only when the video cannot be
# fetched because npm's registry is unreachable.
#   run-example.sh READ_RESULTS MODEL
set -u
example=$1
model=$2
"$ADATOSK_FETCH_MEDIA" "$ADATOSK_MEDIA_DIR" || exit $?
out=$("$example" "$ADATOSK_MEDIA_DIR/cap13_edit2.webm" "$model") || {
  echo "$out"; echo "FAIL: read-results exited with an error"; exit 1; }
echo "$out"
clips=$(echo "$out" | grep -c ' face [0-9]')
[ "$clips" -gt 0 ] || { echo "FAIL: no classified clip printed"; exit 1; }
echo "$out" | grep -q "^$clips clips of [0-9]* frames classified" || {
  echo "FAIL: the summary does not match the $clips printed clips"; exit 1; }
echo "PASS: $clips clips printed"
