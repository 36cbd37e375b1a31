#!/usr/bin/env bash
# //tools:peer_bench_test: tools/peer_bench.py --quick (the tiny config on the
# CPU, seconds): its self-checks pass (chunk/span form = token loop; the staged,
# graph-ready forward = the trainer's), every case gives a row, and a model it
# writes loads back (--write_model, --model). Skips without python3-torch.
set -euo pipefail
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "SKIPPED: python3-torch not importable"
  exit 0
fi
PEER=$1
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/peer_bench.XXXXXX")
/usr/bin/python3 "$PEER" --quick --json "$tmp/peer.json" | tee "$tmp/out.txt"
grep -q "staged (graph-ready) forward vs the trainer's: max |diff| 0$" "$tmp/out.txt"
/usr/bin/python3 - "$tmp/peer.json" <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
assert info["forward"] == "train/hecatelm.py:forward", info["forward"]
cases = sorted(r["case"] for r in info["best"])
assert cases == ["decode1", "decode256", "prefill2048"], cases
assert all(r["ms"] > 0 for r in info["rows"]), info["rows"]
PY
/usr/bin/python3 "$PEER" --config=tiny --device=cpu --write_model="$tmp/model" --cases=
/usr/bin/python3 "$PEER" --model="$tmp/model" --device=cpu --cases=decode1 --repeats=2 \
  --warmup=1 | tee "$tmp/out2.txt"
grep -q "weights $tmp/model" "$tmp/out2.txt"
echo PASSED
