#!/usr/bin/env bash
# Issue 14 item 6: Hecate beside its PyTorch peer, same model, same weights,
# same run. On the GPU machine, from the bundle of tools/device_bundle.sh
# (the repository root travels beside .device_bundle; train/ and
# tools/peer_bench.py are read from it):
#
#   bash .device_bundle/peer_vs_hecate.sh 2>&1 | tee $OUT/peer.log
#
# 1. tools/peer_bench.py writes the base config with init_weights(seed 7) as a
#    model folder;
# 2. cuda_backend_bench --weights=that folder: decode B=1, B=256, prefill
#    T=2048 (fp32 and tf32), the floors and the stage breakdown, plus the
#    check_logits line;
# 3. tools/peer_bench.py --model=that folder: the trainer's forward in
#    inference mode (CUDA graphs where they capture), after checking its logits
#    against Hecate's check_logits line;
# 4. last, the table: case | hecate ms | peer ms | speed-up | target.
# Logs and peer.json land in $OUT.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
export PYTHONUNBUFFERED=1
OUT=${OUT:-$HERE/out}; mkdir -p "$OUT"
PY=${PYTHON:-python3}
# PEER_CONFIG=tiny PEER_ARGS="--device=cpu ..." for a dry run without a GPU.
MODEL=${PEER_MODEL_DIR:-${TMPDIR:-/tmp}/hecate_peer_model}
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  echo "commit $(head -1 "$HERE/COMMIT" 2>/dev/null)"; date -u
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} 2>&1 | tee "$OUT/device.txt"

"$PY" "$ROOT/tools/peer_bench.py" --config="${PEER_CONFIG:-base}" --seed=7 --write_model="$MODEL" --cases= \
  || { echo "peer_vs_hecate: writing the model failed"; exit 1; }

echo "===== cuda_backend_bench --weights=$MODEL"
timeout "${HECATE_BENCH_TIMEOUT:-150}" "$HERE/bin/cuda_backend_bench" --weights="$MODEL" \
  > "$OUT/hecate_bench.log" 2>&1
echo "cuda_backend_bench rc=$?"
grep -v '^check_logits ' "$OUT/hecate_bench.log"

echo "===== tools/peer_bench.py --model=$MODEL"
timeout "${PEER_TIMEOUT:-230}" "$PY" "$ROOT/tools/peer_bench.py" --model="$MODEL" ${PEER_ARGS:---device=cuda} \
  --tf32 --hecate_log="$OUT/hecate_bench.log" --json="$OUT/peer.json" 2>&1 \
  | tee "$OUT/peer_bench.log"
echo "peer_bench rc=${PIPESTATUS[0]}"

echo "===== Hecate vs peer (same weights; peer = train/hecatelm.py forward, fastest form/mode)"
"$PY" - "$OUT/hecate_bench.log" "$OUT/peer.json" <<'EOF' | tee "$OUT/peer_table.txt"
import json, re, sys
hecate = {}
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^(decode|prefill) (fp32|tf32|3xtf32)\s+(\d+)\s+(\d+)\s+([\d.]+)", line)
    if m:
        kind, prec, b, t, ms = m.groups()
        hecate[(kind, prec, int(b), int(t))] = float(ms)
try:
    info = json.load(open(sys.argv[2]))
    peer = {(r["case"], r["precision"]): r for r in info["best"]}
    print(f"parity peer vs Hecate (max |logit diff|): {info.get('hecate_parity_max_diff')}"
          f" ok={info.get('hecate_parity_ok')}")
except (OSError, ValueError) as e:
    peer = {}
    print(f"(no peer results: {e})")
rows = [("decode B=1", "decode1", "decode", "fp32", 1, 1, 5.0),
        ("decode B=256", "decode256", "decode", "fp32", 256, 1, 2.5),
        ("prefill T=2048", "prefill2048", "prefill", "fp32", 1, 2048, 20.0),
        ("decode B=1", "decode1", "decode", "tf32", 1, 1, None),
        ("prefill T=2048", "prefill2048", "prefill", "tf32", 1, 2048, None),
        # 3xtf32 is held to fp32's tolerance: against the peer in fp32.
        ("decode B=256", "decode256", "decode", "3xtf32", 256, 1, 2.5),
        ("prefill T=2048", "prefill2048", "prefill", "3xtf32", 1, 2048, 20.0)]
print(f"{'case':<15} {'prec':<6} {'hecate ms':>10} {'peer ms':>10} {'peer form/mode':<18}"
      f" {'speed-up':>9} {'target':>7} {'met':>4}")
for label, case, kind, prec, b, t, target in rows:
    h = hecate.get((kind, prec, b, t))
    p = peer.get((case, "fp32" if prec == "3xtf32" else prec))
    pm = p["ms"] if p else None
    up = pm / h if h and pm else None
    f = lambda v, fmt: "-" if v is None else format(v, fmt)
    met = "-" if target is None or up is None else ("yes" if up >= target else "NO")
    form = f"{p['form']}/{p['mode']}" if p else "-"
    print(f"{label:<15} {prec:<6} {f(h, '.3f'):>10} {f(pm, '.3f'):>10} {form:<18}"
          f" {f(up, '.2f') + ('x' if up else ''):>9} {f(target, '.1f') + ('x' if target else ''):>7}"
          f" {met:>4}")
EOF
