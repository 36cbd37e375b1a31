#!/usr/bin/env bash
# The CPU reference backend against the committed goldens.
set -euo pipefail
compare="$1"
dir="$(dirname "$0")/goldens"
cases=()
for c in "$dir"/*/; do cases+=("${c%/}"); done
(( ${#cases[@]} >= 4 )) || { echo "FAIL: expected at least 4 golden cases in $dir"; exit 1; }
"$compare" "${cases[@]}"
