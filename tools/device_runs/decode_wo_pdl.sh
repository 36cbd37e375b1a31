#!/usr/bin/env bash
# decode_wo_pdl.sh: issue 14 item 1, the MAG+Wo GEMV as attention's
# programmatic dependent after the mixers' join (HECATE_DECODE_WO_PDL, on by
# default; attention triggers its dependents after its own wait), from the
# bundle of tools/device_decode_bundle.sh built with
# RUN_SCRIPT=decode_wo_pdl.sh (carry .device_decode_pack):
#   1. parity: swa_decode_test, cuda_backend_test;
#   2. engine_step_bench decode B=1,2,4 with and without it, fp32 and bf16
#      weights, two interleaved rounds;
#   3. cuda_backend_bench --quick;
#   4. compute-sanitizer racecheck and memcheck on swa_decode_test;
#   5. a traced fp32 decode B=1 run (engine_step_bench --trace_csv,
#      tools/device_runs/step_timeline.py): the step kernel by kernel.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=36
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"
for t in swa_decode_test cuda_backend_test; do
  late "test $t" && continue
  timeout 150 "$B/$t" > "$OUT/$t.log" 2>&1
  note "test $t" "rc=$? $(summary "$OUT/$t.log")"
done
for round in 1 2; do
  for w in fp32 bf16; do
    for s in on off; do
      vars=""; [[ $s == off ]] && vars="HECATE_DECODE_WO_PDL=0"
      late "engine_step_bench $s.$w r$round" && continue
      engine_steps "$s.$w" 60 "$vars" --backend=cuda --model=random:base --weights="$w" \
        --decode=1,2,4 --prefill= --min_seconds=1
    done
  done
done
late "cuda_backend_bench" || { timeout 120 "$B/cuda_backend_bench" --quick > "$OUT/backend_bench.log" 2>&1; note "cuda_backend_bench --quick" "rc=$?"; }
late "racecheck swa_decode_test" || sanitized "racecheck swa_decode_test" "$OUT/racecheck.swa.log" 120 racecheck "$B/swa_decode_test"
late "memcheck swa_decode_test" || sanitized "memcheck swa_decode_test" "$OUT/memcheck.swa.log" 90 memcheck "$B/swa_decode_test"
if ! late "traced decode B=1"; then
  timeout 90 "$B/engine_step_bench" --backend=cuda --model=random:base --decode=1 --prefill= \
    --min_seconds=0.3 --trace_csv="$OUT/trace_b1.csv" > "$OUT/engine_traced.log" 2>&1
  note "traced engine_step_bench B=1" "rc=$?"
  python3 "$HERE/../tools/device_runs/step_timeline.py" "$OUT/trace_b1.csv" > "$OUT/timeline_b1.txt" 2>&1
  note "step_timeline B=1" "rc=$?"
  gzip -f "$OUT/trace_b1.csv"
fi
echo "== engine_step_bench decode step p50 ms (setting batch p50)"
step_table
echo "== cuda_backend_bench"
grep -aE '^(decode|prefill) ' "$OUT/backend_bench.log"
echo "== traced B=1 step, per family"
sed -n '/-- per family/,$p' "$OUT/timeline_b1.txt"
cat "$S"
