#!/usr/bin/env bash
# A model trained and exported by train/ loads in hecated, and hecated's CPU
# backend scores held-out text (hecatectl eval, one carried stream and fresh
# windows) within 1e-4 nats/byte of the trainer's own figure. Also the shipped
# model, on a shorter slice. Skips, saying so, without python3-torch.
#   hecated_parity_test.sh HECATED HECATECTL TEXT SHIPPED_MODEL_CONFIG
set -euo pipefail
python=/usr/bin/python3
if ! "$python" -c "import torch" 2>/dev/null; then
  echo "SKIPPED: python3-torch not importable"
  exit 0
fi
hecated=$1 hecatectl=$2 text=$3 shipped=$(dirname "$4")
here=$(dirname "$(readlink -f "$0")")
[[ -f "$here/hecated_parity.py" ]] || here=$(dirname "$0")
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
# Held-out text: bytes of the validation split (the last 10%).
"$python" - "$text" "$tmp" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
val = data[int(len(data) * 0.9):]
open(sys.argv[2] + "/heldout.txt", "wb").write(val[5000:9000])
open(sys.argv[2] + "/heldout_short.txt", "wb").write(val[20000:21500])
PY
"$python" "$here/hecated_parity.py" train "$tmp/model" "$text"

failures=0
check() {  # model text window
  local model=$1 input=$2 window=$3 ports="$tmp/ports.$RANDOM" pid want got
  "$hecated" --model="$model" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
    --state_dir="$tmp/state.$RANDOM" --port_file="$ports" 2>"$tmp/hecated.log" &
  pid=$!
  for _ in $(seq 1 300); do
    [[ -s "$ports" ]] && break
    kill -0 "$pid" || { echo "FAIL: hecated exited"; cat "$tmp/hecated.log"; exit 1; }
    sleep 0.1
  done
  want=$("$python" "$here/hecated_parity.py" score "$model" "$input" "$window")
  got=$("$hecatectl" --target="127.0.0.1:$(head -1 "$ports")" eval "$input" \
    --window="$window" --chunk_bytes=1000 --json)
  kill "$pid"
  wait "$pid" || true
  if ! "$python" - "$want" "$got" "$model" "$window" <<'PY'; then failures=$((failures + 1)); fi
import json, sys
want, got = json.loads(sys.argv[1]), json.loads(sys.argv[2])
diff = abs(want["nats_per_byte"] - got["nats_per_byte"])
ok = diff <= 1e-4 and want["scored_bytes"] == got["scored_bytes"]
print(f"{'ok  ' if ok else 'FAIL'} {sys.argv[3].split('/')[-1]} window {sys.argv[4]}: trainer "
      f"{want['nats_per_byte']:.6f}, hecated {got['nats_per_byte']:.6f} nats/byte over "
      f"{got['scored_bytes']} bytes (diff {diff:.1e}, limit 1e-4)")
sys.exit(0 if ok else 1)
PY
}
check "$tmp/model" "$tmp/heldout.txt" 0
check "$tmp/model" "$tmp/heldout.txt" 256
check "$shipped" "$tmp/heldout_short.txt" 0
check "$shipped" "$tmp/heldout_short.txt" 256
if ((failures)); then echo "FAIL: $failures check(s)"; exit 1; fi
echo "PASS"
