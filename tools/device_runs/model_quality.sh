#!/usr/bin/env bash
# On the GPU machine, from the repository root, with the e2e bundle carried:
# the shipped model's quality on the validation split measured through
# hecated --backend=cuda (hecatectl eval, one carried stream and fresh
# 256-byte windows) and by the trainer (train/evaluate.py, float32 on the
# GPU), plus the trainer's depth buckets; a table last. JSON in $OUT.
#   .device_e2e/model_quality.sh [MODEL_DIR]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
model=${1:-models/tiny-shakespeare}
OUT=${OUT:-$HERE/out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}" PYTHONUNBUFFERED=1
bin="$HERE/runfiles/hecate"
python3 -c "d=open('data/tinyshakespeare.txt','rb').read(); open('$OUT/val.txt','wb').write(d[int(len(d)*0.9):])"
tmp=$(mktemp -d)
"$bin/server/hecated" --backend=cuda --model="$model" --listen=127.0.0.1:0 \
  --metrics_listen=127.0.0.1:0 --state_dir="$tmp/state" --port_file="$tmp/ports" 2>"$OUT/hecated.log" &
pid=$!
for _ in $(seq 1 600); do [[ -s "$tmp/ports" ]] && break; sleep 0.1; done
target="127.0.0.1:$(head -1 "$tmp/ports")"
"$bin/client/hecatectl" --target="$target" info | tee "$OUT/info.txt"
"$bin/client/hecatectl" --target="$target" eval "$OUT/val.txt" --json >"$OUT/cuda_stream.json"
"$bin/client/hecatectl" --target="$target" eval "$OUT/val.txt" --window=256 --json >"$OUT/cuda_windows.json"
"$bin/client/hecatectl" --target="$target" generate --prompt=$'ROMEO:\n' --max_tokens=400 \
  --temperature=0.8 --seed=7 >"$OUT/romeo.txt" 2>&1
kill "$pid"; wait "$pid"
rm -f "$OUT/val.txt"
python3 train/evaluate.py "$model" --fresh 256 --stream --depth 8192 --json "$OUT/trainer.json"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 - "$OUT" <<'PY'
import json, sys
o = sys.argv[1]
t = json.load(open(f"{o}/trainer.json"))
s, w = json.load(open(f"{o}/cuda_stream.json")), json.load(open(f"{o}/cuda_windows.json"))
print(f"{'measure':34} {'trainer':>10} {'hecated cuda':>13} {'diff':>9}")
for name, a, b in (("(a) fresh 256-byte windows", t["fresh_nats_per_byte"], w["nats_per_byte"]),
                   ("(b) one stream, state carried", t["stream_nats_per_byte"], s["nats_per_byte"])):
    print(f"{name:34} {a:10.6f} {b:13.6f} {abs(a - b):9.1e}")
print("depth (trainer):", {k: round(v, 4) for k, v in t["depth"].items()})
PY
