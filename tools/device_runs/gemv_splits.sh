#!/usr/bin/env bash
# gemv_splits.sh: issue 14 item 1, how many blocks split K in the decode
# GEMVs (kernels/gemv_decode: gemv_core::ChooseSplits; HECATE_GEMV_SPLITS),
# from the bundle of tools/device_decode_bundle.sh
# built with RUN_SCRIPT=gemv_splits.sh (carry .device_decode_pack):
#   1. parity at the chosen splits: gemv_decode_test, gemv_prep_test,
#      cuda_backend_test; and the GEMV tests under every other setting;
#   2. gemv_decode_bench (the 48 GEMVs of a step; per projection) at each
#      setting;
#   3. engine_step_bench decode B=1,2,4 at each setting, twice, interleaved;
#   4. cuda_backend_bench --quick (decode B=1 against its min floor);
#   5. compute-sanitizer racecheck (fp32 parity cases) and memcheck on both
#      GEMV tests;
#   6. with PEER=1, tools/device_runs/peer_vs_hecate.sh (Hecate beside the
#      trainer's forward, issue 14 item 6); with STAGE=1 first,
#      stage_stream_bench (the same weight stages streamed by launch
#      structure alone: the bound the GEMVs' chain compares with).
# SETTINGS (default "auto cublas 8 4 2"): auto = the chosen splits, cublas =
# the cuBLAS path (HECATE_DECODE_GEMV_ROWS=0), a number = HECATE_GEMV_SPLITS,
# VAR=VALUE = that variable (e.g. HECATE_GEMV_NARROW=0). WEIGHTS (default
# fp32; "fp32 bf16" for both) are the engine_step_bench weight formats.
# Items that would start past DEADLINE_S
# (default 400) seconds are skipped.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=40
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"
SETTINGS=${SETTINGS:-auto cublas 8 4 2}
vars_of() {
  case $1 in
    auto) echo ;; cublas) echo HECATE_DECODE_GEMV_ROWS=0 ;;
    *=*) echo "$1" ;;
    *) echo "HECATE_GEMV_SPLITS=$1" ;;
  esac
}

if [[ ${STAGE:-0} == 1 ]]; then
  timeout 90 "$B/stage_stream_bench" > "$OUT/stage_stream.log" 2>&1
  note "stage_stream_bench" "rc=$?"
fi
# Most needed first: a call that runs out of time loses the comparisons.
for t in gemv_decode_test gemv_prep_test cuda_backend_test; do
  late "test $t" && continue
  timeout 150 "$B/$t" > "$OUT/$t.auto.log" 2>&1
  note "test $t" "rc=$? $(summary "$OUT/$t.auto.log")"
done
for s in $SETTINGS; do
  [[ $s == auto || $s == cublas ]] && continue
  for t in gemv_decode_test gemv_prep_test; do
    late "test $t $s" && continue
    # shellcheck disable=SC2046
    env $(vars_of "$s") timeout 90 "$B/$t" > "$OUT/$t.$s.log" 2>&1
    note "test $t $s" "rc=$? $(summary "$OUT/$t.$s.log")"
  done
done
note "gemv tests worst rel err" "$(grep -ahoE 'rel err [0-9.e+-]+' "$OUT"/gemv_*_test.*.log | awk '{ if ($3 > m) m = $3 } END { print m }')"
for s in $SETTINGS; do
  [[ $s == cublas ]] && continue
  late "gemv_decode_bench $s" && continue
  # shellcheck disable=SC2046
  env $(vars_of "$s") timeout 60 "$B/gemv_decode_bench" > "$OUT/gemv_bench.$s.log" 2>&1
  note "gemv_decode_bench $s" "rc=$?"
done
for round in 1 2; do
  for w in ${WEIGHTS:-fp32}; do
    for s in $SETTINGS; do
      name=$s; [[ $w == fp32 ]] || name="$s.$w"
      late "engine_step_bench $name r$round" && continue
      engine_steps "$name" 60 "$(vars_of "$s")" --backend=cuda --model=random:base --weights="$w" --decode=1,2,4 --prefill= --min_seconds=1
    done
  done
done
late "cuda_backend_bench" || { timeout 120 "$B/cuda_backend_bench" --quick > "$OUT/backend_bench.log" 2>&1; note "cuda_backend_bench --quick" "rc=$?"; }
if [[ ${PEER:-0} == 1 ]] && ! late "peer_vs_hecate"; then
  OUT="$OUT/peer" bash "$HERE/peer_vs_hecate.sh" > "$OUT/peer.log" 2>&1
  note "peer_vs_hecate" "rc=$?"
fi
# racecheck on the fp32 parity cases (the whole binary outlasts 90 s; these
# four took ~40 s each under it on 2026-12-04).
late "racecheck gemv_decode_test" || sanitized "racecheck gemv_decode_test (fp32 parity)" "$OUT/racecheck.gemv_decode_test.log" 240 racecheck "$B/gemv_decode_test" --gtest_filter='Prologues/GemvDecodeParityTest.*'
late "racecheck gemv_prep_test" || sanitized "racecheck gemv_prep_test (fp32 parity)" "$OUT/racecheck.gemv_prep_test.log" 80 racecheck "$B/gemv_prep_test" --gtest_filter='*MatchesProjectionThenMixerPrep*'
for t in gemv_decode_test gemv_prep_test; do
  late "memcheck $t" || sanitized "memcheck $t" "$OUT/memcheck.$t.log" 90 memcheck "$B/$t"
done

echo "== gemv_decode_bench, fp32 chain (rows | +prep pdl us | chain pdl | chain | cublas | x floor)"
for s in $SETTINGS; do
  [[ $s == cublas ]] && continue
  echo "-- $s"; grep -aE '^[1248] ' "$OUT/gemv_bench.$s.log" | head -4
done
echo "== per projection (PDL), fp32 and bf16"
for s in $SETTINGS; do
  [[ $s == cublas ]] && continue
  echo "-- $s"; grep -aE '^(qkv|w1|w2|wo)' "$OUT/gemv_bench.$s.log" | head -16
done
echo "== engine_step_bench decode step p50 ms (setting batch p50)"
step_table
grep -aE "^(decode|prefill) " "$OUT/backend_bench.log" | head -12
[[ -f $OUT/stage_stream.log ]] && grep -aA12 '^structure' "$OUT/stage_stream.log"
[[ -f $OUT/peer/peer_table.txt ]] && cat "$OUT/peer/peer_table.txt"
cat "$S"
