#!/usr/bin/env bash
# On the GPU machine (device tool), from the repository root: trains one or
# several variants side by side (the GPU is mostly idle under one: eager
# PyTorch is launch-bound at this size), keeps the one with the best
# validation loss and measures it. Everything lands under $OUT/run:
# model/ (config.json, model.safetensors), train_log.jsonl and summary.json of
# the kept run, summaries.json of all, eval.json, log.txt.
#   train/device_train.sh TIME_BUDGET_SECONDS "train.py flags of variant 1" ["flags 2" ...]
set -euo pipefail
budget=$1
shift
out=${OUT:?set OUT}/run
work=$(mktemp -d)
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/log.txt"
i=0
for flags in "$@"; do
  i=$((i + 1))
  echo "$flags" >"$work/v$i.flags"
  # shellcheck disable=SC2086
  python3 train/train.py --out "$work/v$i" --time_budget "$budget" --tf32 --quiet $flags \
    >"$work/v$i.log" 2>&1 &
done
wait
best=""
for v in "$work"/v*/; do
  v=${v%/}
  echo "$(basename "$v") ($(cat "$v.flags")): $(python3 -c "import json; \
s=json.load(open('$v/summary.json')); print(f\"val {s['best_val_nats_per_byte']:.4f} at step \
{s['best_step']} of {s['steps']}, {s['tokens_per_s']/1e3:.0f}k tok/s\")")" | tee -a "$out/log.txt"
  if [[ -z $best ]] || python3 -c "import json,sys; a=json.load(open('$v/summary.json')); \
b=json.load(open('$best/summary.json')); sys.exit(0 if a['best_val_nats_per_byte'] < b['best_val_nats_per_byte'] else 1)"; then
    best=$v
  fi
done
echo "kept $(basename "$best")" | tee -a "$out/log.txt"
cp -r "$best/model" "$out/model"
cp "$best/train_log.jsonl" "$best/summary.json" "$out/"
python3 -c "import json,glob; print(json.dumps({p: json.load(open(p)) for p in sorted(glob.glob('$work/v*/summary.json'))}, indent=1))" \
  >"$out/summaries.json"
python3 train/evaluate.py "$out/model" --fresh 256 --stream --depth 8192 --norms 1115394 \
  --json "$out/eval.json" 2>&1 | tee -a "$out/log.txt"
