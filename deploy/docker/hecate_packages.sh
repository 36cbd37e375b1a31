#!/usr/bin/env bash
# Prints the Debian packages of ./hecate's PACKAGES list, space-separated, so
# the image's build stage installs exactly what `./hecate serve|test` installs
# (one list to maintain, not two).
#
#   deploy/docker/hecate_packages.sh [PATH_TO_HECATE_SCRIPT]   (default: ./hecate)
set -euo pipefail
script="${1:-hecate}"
[[ -r "$script" ]] || { echo "hecate_packages.sh: cannot read $script" >&2; exit 2; }
# Evaluate only the PACKAGES=( ... ) assignment, never the rest of the script.
block="$(sed -n '/^PACKAGES=(/,/^)/p' "$script")"
[[ -n "$block" ]] || { echo "hecate_packages.sh: no PACKAGES=( ... ) in $script" >&2; exit 1; }
eval "$block"
((${#PACKAGES[@]} > 0)) || { echo "hecate_packages.sh: PACKAGES is empty" >&2; exit 1; }
echo "${PACKAGES[@]}"
