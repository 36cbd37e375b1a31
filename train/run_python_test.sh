#!/usr/bin/env bash
# Runs a Python test file with Debian's python3 (which has python3-torch);
# skips, saying so, where torch is missing.
set -euo pipefail
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "SKIPPED: python3-torch not importable"
  exit 0
fi
exec /usr/bin/python3 "$1"
