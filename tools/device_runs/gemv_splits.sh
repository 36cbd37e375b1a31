#!/usr/bin/env bash
# gemv_splits.sh: issue 14 item 1, how many blocks split K in the decode
# GEMVs (kernels/gemv_decode: gemv_core::ChooseSplits, HECATE_GEMV_SPLITS),
# from the bundle of tools/device_decode_bundle.sh built with
# RUN_SCRIPT=gemv_splits.sh (carry .device_decode):
#   1. parity at the chosen splits: gemv_decode_test, gemv_prep_test,
#      cuda_backend_test;
#   2. gemv_decode_bench (the 48 GEMVs of a step; per projection);
#   3. engine_step_bench decode B=1,2,4 at the chosen splits, forced 8, 4,
#      2, and the cuBLAS path (HECATE_DECODE_GEMV_ROWS=0) as an anchor;
#      twice, interleaved;
#   4. cuda_backend_bench --quick (decode B=1 against its min floor);
#   5. gemv_decode_bench at forced 8, 4, 2 (a forced count still grows
#      where a slice would not fit its shared memory);
#   6. compute-sanitizer racecheck (fp32 parity cases) and memcheck on both
#      GEMV tests, then both tests at each forced count.
# Items that would start past DEADLINE_S (default 400) seconds are skipped.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=40
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"

# Most needed first: a call that runs out of time loses the comparisons.
for t in gemv_decode_test gemv_prep_test cuda_backend_test; do
  late "test $t" && continue
  timeout 150 "$B/$t" > "$OUT/$t.auto.log" 2>&1
  note "test $t" "rc=$? $(summary "$OUT/$t.auto.log")"
done
late "gemv_decode_bench splits=auto" || { timeout 60 "$B/gemv_decode_bench" > "$OUT/gemv_bench.auto.log" 2>&1; note "gemv_decode_bench splits=auto" "rc=$?"; }
for round in 1 2; do
  for s in auto cublas 8 4 2; do
    case $s in
      auto) vars= ;; cublas) vars=HECATE_DECODE_GEMV_ROWS=0 ;; *) vars="HECATE_GEMV_SPLITS=$s" ;;
    esac
    late "engine_step_bench $s r$round" && continue
    engine_steps "$s" 60 "$vars" --backend=cuda --model=random:base --decode=1,2,4 --prefill= --min_seconds=1
  done
done
late "cuda_backend_bench" || { timeout 120 "$B/cuda_backend_bench" --quick > "$OUT/backend_bench.log" 2>&1; note "cuda_backend_bench --quick" "rc=$?"; }
for s in 8 4 2; do
  late "gemv_decode_bench splits=$s" && continue
  HECATE_GEMV_SPLITS=$s timeout 60 "$B/gemv_decode_bench" > "$OUT/gemv_bench.$s.log" 2>&1
  note "gemv_decode_bench splits=$s" "rc=$?"
done
# racecheck on the fp32 parity cases (the whole binary outlasts 90 s).
late "racecheck gemv_decode_test" || sanitized "racecheck gemv_decode_test (fp32 parity)" "$OUT/racecheck.gemv_decode_test.log" 100 racecheck "$B/gemv_decode_test" --gtest_filter='Prologues/GemvDecodeParityTest.*'
late "racecheck gemv_prep_test" || sanitized "racecheck gemv_prep_test (fp32 parity)" "$OUT/racecheck.gemv_prep_test.log" 80 racecheck "$B/gemv_prep_test" --gtest_filter='*MatchesProjectionThenMixerPrep*'
for t in gemv_decode_test gemv_prep_test; do
  late "memcheck $t" || sanitized "memcheck $t" "$OUT/memcheck.$t.log" 90 memcheck "$B/$t"
done
for s in 1 2 4 8; do
  for t in gemv_decode_test gemv_prep_test; do
    late "test $t splits=$s" && continue
    HECATE_GEMV_SPLITS=$s timeout 90 "$B/$t" > "$OUT/$t.$s.log" 2>&1
    note "test $t splits=$s" "rc=$? $(summary "$OUT/$t.$s.log")"
  done
done
note "gemv tests worst rel err" "$(grep -ahoE 'rel err [0-9.e+-]+' "$OUT"/gemv_*_test.*.log | awk '{ if ($3 > m) m = $3 } END { print m }')"

echo "== gemv_decode_bench, fp32 chain (rows | +prep pdl us | chain pdl | chain | cublas | x floor)"
for s in 8 4 2 auto; do
  echo "-- splits=$s"; grep -aE '^[1248] ' "$OUT/gemv_bench.$s.log" | head -4
done
echo "== per projection (PDL), fp32, splits=auto / 8"
for s in auto 8 4 2; do
  echo "-- splits=$s"; grep -aE '^(qkv|w1|w2|wo)' "$OUT/gemv_bench.$s.log" | grep -v bf16 | head -8
done
echo "== engine_step_bench decode step p50 ms (setting batch p50)"
python3 - "$OUT/engine_steps.jsonl" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    try: r = json.loads(line)
    except ValueError: continue
    rows.setdefault((r["setting"], r.get("batch")), []).append(r.get("step_ms_p50", r.get("p50_ms")))
for (s, b), v in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
    print(f"{s:8s} B={b}: " + " / ".join(f"{x:.3f}" if isinstance(x, float) else str(x) for x in v))
PY
grep -aE "decode (fp32|tf32) B=1 " "$OUT/backend_bench.log" | head -3
cat "$S"
