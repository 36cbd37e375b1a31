#!/usr/bin/env bash
# Issue 12 on the GPU machine, one call (from tools/device_e2e_bundle.sh's
# bundle): CUDA parity (cuda_backend_test: bucketed decode graphs;
# cuda_backend_state_test: staged transfers; state_memory_test), served vs
# engine (decode 64/256/1024, prefill 2048), 16 sessions x 2048-byte
# prefill, the fairness test, the e2e suite on CUDA; logs in $OUT, a short
# table last.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
OUT=${OUT:-$HERE/out}; mkdir -p "$OUT"
cd "$HERE"
nvidia-smi --query-gpu=name,driver_version,memory.used --format=csv,noheader
timeout 150 runfiles/hecate/backends/cuda/cuda_backend_test > "$OUT/parity.log" 2>&1
echo "parity rc=$?"
timeout 60 runfiles/hecate/backends/cuda/cuda_backend_state_test >> "$OUT/parity.log" 2>&1
echo "cuda_backend_state_test rc=$?"
timeout 60 runfiles/hecate/backends/cuda/state_memory_test >> "$OUT/parity.log" 2>&1
echo "state_memory_test rc=$?"
OUT=$OUT/s timeout 260 bash serving_vs_engine.sh > "$OUT/serving.log" 2>&1
echo "serving rc=$?"
DECODE_SESSIONS=" " PREFILL_SESSIONS=16 PREFILL_REQUESTS=4 OUT=$OUT/s16 timeout 70 \
  bash serving_vs_engine.sh > "$OUT/serving16.log" 2>&1
echo "serving16 rc=$?"
OUT=$OUT timeout 220 bash run_e2e.sh > "$OUT/e2e_run.log" 2>&1
echo "e2e rc=$?"
grep -E "^PARITY|FAILED|PASSED|Segmentation" "$OUT/parity.log" | head -40
grep -h "engine step took" "$OUT"/s*/serving_hecated.log | head -8
grep -h "inter-token p99" "$OUT/e2e.log" | head -3
tail -18 "$OUT/e2e_run.log"
tail -12 "$OUT/serving16.log"
tail -16 "$OUT/serving.log"
