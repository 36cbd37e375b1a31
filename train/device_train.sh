#!/usr/bin/env bash
# On the GPU machine (device tool), from the repository root: trains one or
# several variants one after another (side by side, as separate processes on
# one GPU, each ran at a sixth of its speed alone: the GPU time-slices between
# them), keeps the one with the best validation loss and measures it.
# Everything lands under $OUT/run: model/ (config.json, model.safetensors),
# train_log.jsonl and summary.json of the kept run, summaries.json of all,
# eval.json, log.txt.
#   train/device_train.sh SECONDS_PER_VARIANT "train.py flags of variant 1" ["flags 2" ...]
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
    >"$work/v$i.log" 2>&1
done
# One line per variant, all summaries in one file, the best variant's folder last.
best=$(python3 - "$work" "$out/summaries.json" <<'PY' | tee -a "$out/log.txt" /dev/stderr | tail -1
import glob, json, os, sys
work, summaries_path = sys.argv[1:]
runs = {}
for path in sorted(glob.glob(os.path.join(work, "v*", "summary.json"))):
    run = os.path.dirname(path)
    runs[run] = json.load(open(path))
    s = runs[run]
    print(f"{os.path.basename(run)} ({open(run + '.flags').read().strip()}): val "
          f"{s['best_val_nats_per_byte']:.4f} at step {s['best_step']} of {s['steps']}, "
          f"{s['tokens_per_s'] / 1e3:.0f}k tok/s")
json.dump(runs, open(summaries_path, "w"), indent=1)
print(min(runs, key=lambda r: runs[r]["best_val_nats_per_byte"]))
PY
)
echo "kept $(basename "$best")" | tee -a "$out/log.txt"
cp -r "$best/model" "$out/model"
cp "$best/train_log.jsonl" "$best/summary.json" "$out/"
python3 train/evaluate.py "$out/model" --fresh 256 --stream --depth 8192 --norms 1115394 \
  --json "$out/eval.json" 2>&1 | tee -a "$out/log.txt"
