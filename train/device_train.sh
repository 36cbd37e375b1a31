#!/usr/bin/env bash
# On the GPU machine (device tool), from the repository root: trains the
# shipped model and measures it, everything under $OUT/run (model folder,
# train_log.jsonl, summary.json, eval.json, log.txt).
#   train/device_train.sh [TIME_BUDGET_SECONDS] [train.py flags...]
set -euo pipefail
budget=${1:-450}
shift || true
out=${OUT:?set OUT}/run
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/log.txt"
python3 train/train.py --out "$out" --time_budget "$budget" --tf32 "$@" 2>&1 | tee -a "$out/log.txt"
python3 train/evaluate.py "$out/model" --fresh 256 --stream --depth 8192 --norms 1115394 \
  --json "$out/eval.json" 2>&1 | tee -a "$out/log.txt"
