#!/usr/bin/env bash
# Global-load widths in the SASS of every benchmark binary's kernels (the
# decode path must use 16-byte loads): one line per kernel to $OUT/sass.txt,
# the decode kernels' lines printed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/out}; mkdir -p "$OUT"
: > "$OUT/sass.txt"
for b in "$HERE"/bin/*_bench; do
  name=$(basename "$b")
  sass=$(cuobjdump -sass "$b" 2>&1)
  for fn in $(grep -oE 'Function : [A-Za-z0-9_]+' <<< "$sass" | awk '{print $3}' | sort -u); do
    body=$(awk -v f="$fn" '/Function : /{p = ($3 == f)} p' <<< "$sass")
    wide=$(grep -cE 'LDG\.E(\.[A-Z0-9]+)*\.128' <<< "$body")
    narrow=$(grep -E 'LDG\.E' <<< "$body" | grep -vcE '\.(128|64)')
    local_mem=$(grep -cE '\b(LDL|STL)\b' <<< "$body")
    echo "$name $fn LDG.128=$wide LDG.32=$narrow local=$local_mem" >> "$OUT/sass.txt"
  done
done
grep -i decode "$OUT/sass.txt"
