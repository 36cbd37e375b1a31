#!/usr/bin/env bash
# decode_timeline.sh: issue 14 items 1-3, where a step's time goes, kernel by
# kernel, on the GPU's own clock: engine_step_bench --trace_csv records every
# kernel and copy of its timed steps through CUPTI (graph nodes included),
# and tools/device_runs/step_timeline.py prints each case's median step and,
# per kernel family, the time it ran alone (the wall time it adds), the
# overlapped and the idle time. From the bundle of
# tools/device_decode_bundle.sh built with RUN_SCRIPT=decode_timeline.sh
# (carry .device_decode_pack). Cases: CASES (default: fp32 decode B=1 and
# B=256 and prefill T=2048, bf16 weights decode B=1, tf32 prefill T=2048).
# The traced runs' step times are printed too (tracing adds a little).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=30
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"
TIMELINE="$HERE/../tools/device_runs/step_timeline.py"
CASES=${CASES:-"fp32:fp32:1,256:2048 fp32:bf16:1:- tf32:fp32:-:2048"}
for c in $CASES; do
  IFS=: read -r gemm weights decode prefill <<< "$c"
  [[ $decode == - ]] && decode=""
  [[ $prefill == - ]] && prefill=""
  name="$gemm.$weights"
  timeout 180 "$B/engine_step_bench" --backend=cuda --model=random:base --gemm="$gemm" \
    --weights="$weights" --decode="$decode" --prefill="$prefill" --min_seconds=0.3 \
    --trace_csv="$OUT/trace_$name.csv" > "$OUT/engine_$name.log" 2>&1
  note "traced engine_step_bench $name" "rc=$?"
  python3 "$TIMELINE" "$OUT/trace_$name.csv" > "$OUT/timeline_$name.txt" 2>&1
  note "step_timeline $name" "rc=$?"
  gzip -f "$OUT/trace_$name.csv"
done
for c in $CASES; do
  IFS=: read -r gemm weights _ _ <<< "$c"
  echo "== $gemm gemm, $weights weights (traced step times, then per family)"
  grep -aE '^(decode|prefill) ' "$OUT/engine_$gemm.$weights.log"
  grep -avE '^ *[0-9]+\.[0-9]+ +[0-9]+\.[0-9]+ ' "$OUT/timeline_$gemm.$weights.txt" | head -60
done
cat "$S"
