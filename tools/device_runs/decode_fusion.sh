#!/usr/bin/env bash
# decode_fusion.sh: one call for issue 14 item 1, the fused decode path
# (kernels/gemv_decode; ForwardEngine::Layer for steps of <= 8 rows), from
# the bundle of tools/device_decode_bundle.sh (carry .device_decode):
#   1. parity: gemv_decode_test, gemv_prep_test, cuda_backend_test (and,
#      only if that fails, again with each decode switch off to isolate it);
#   2. compute-sanitizer memcheck and racecheck on the two GEMV tests;
#   3. gemv_decode_bench (the 48 GEMVs of a step: fused chain vs cuBLAS);
#   4. cuda_backend_bench --quick before (HECATE_DECODE_GEMV_ROWS=0: the
#      old path) and after (decode B=1, B=256, prefill T=2048, floors,
#      stage breakdowns);
#   5. engine_step_bench decode B=1,2,4,8 under five settings of the
#      switches (HECATE_DECODE_*: see backends/cuda/forward_engine_layer.cc),
#      from the old path to all on;
#   6. memcheck on cuda_backend_test's tiny and wide_heads cases, if time is left.
# Items that would start past DEADLINE_S (default 400) seconds are skipped
# and say so. A short table comes last.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=40
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"

# 1. Parity.
for t in gemv_decode_test gemv_prep_test cuda_backend_test; do
  late "test $t" && continue
  timeout 150 "$B/$t" > "$OUT/$t.log" 2>&1; rc=$?
  note "test $t" "rc=$rc $(summary "$OUT/$t.log")"
  [[ $t == cuda_backend_test ]] && backend_rc=$rc
done
note "gemv tests worst rel err" "$(grep -ahoE 'rel err [0-9.e+-]+' "$OUT"/gemv_*_test.log | awk '{ if ($3 > m) m = $3 } END { print m }')"
if [[ ${backend_rc:-0} != 0 ]]; then
  for sw in HECATE_DECODE_PDL=0 HECATE_DECODE_PREP=0 HECATE_DECODE_BRANCHES=0 HECATE_DECODE_GEMV_ROWS=0; do
    late "cuda_backend_test $sw" && continue
    env "$sw" timeout 150 "$B/cuda_backend_test" > "$OUT/backend_$sw.log" 2>&1
    note "cuda_backend_test $sw" "rc=$? $(summary "$OUT/backend_$sw.log")"
  done
fi

# 2. compute-sanitizer on the new kernels.
for tool in memcheck racecheck; do
  for t in gemv_decode_test gemv_prep_test; do
    late "$tool $t" && continue
    sanitized "$tool $t" "$OUT/$tool.$t.log" 90 "$tool" "$B/$t"
  done
done

# 3. The GEMVs alone.
late "bench gemv_decode" || { timeout 90 "$B/gemv_decode_bench" > "$OUT/gemv_decode_bench.log" 2>&1; note "bench gemv_decode" "rc=$?"; }

# 4. The standard benchmark, before and after.
for s in "before HECATE_DECODE_GEMV_ROWS=0" "after HECATE_DECODE_ALL=1"; do
  read -r name vars <<< "$s"
  late "cuda_backend_bench $name" && continue
  env $vars timeout 150 "$B/cuda_backend_bench" --quick > "$OUT/backend_bench_$name.log" 2>&1
  note "cuda_backend_bench $name" "rc=$?"
done

# 5. Whole decode steps under each setting of the switches.
settings=("before HECATE_DECODE_GEMV_ROWS=0"
          "gemv HECATE_DECODE_PDL=0 HECATE_DECODE_PREP=0 HECATE_DECODE_BRANCHES=0"
          "gemv+pdl HECATE_DECODE_PREP=0 HECATE_DECODE_BRANCHES=0"
          "gemv+pdl+prep HECATE_DECODE_BRANCHES=0"
          "all HECATE_DECODE_ALL=1")
: > "$OUT/engine_steps.jsonl"
for s in "${settings[@]}"; do
  read -r name vars <<< "$s"
  late "engine_step_bench $name" && continue
  engine_steps "$name" 60 "$vars" --backend=cuda --model=random:base --decode=1,2,4,8 \
    --prefill= --min_seconds=1
done

# 6. memcheck through the whole model (the CPU reference dominates its time).
if ! late "memcheck cuda_backend_test"; then
  sanitized "memcheck cuda_backend_test tiny,wide" "$OUT/memcheck.cuda_backend_test.log" 120 \
    memcheck "$B/cuda_backend_test" --gtest_filter='*tiny:*wide_heads'
fi

cat "$OUT/device.txt"
grep -aE "FAILED|Failure|error" "$OUT"/*test*.log | head -30
grep -a PARITY "$OUT/cuda_backend_test.log"
grep -aE "^(weights|rows|[1248] )" "$OUT/gemv_decode_bench.log"
sed -n '/^projection/,$p' "$OUT/gemv_decode_bench.log"
for name in before after; do
  echo "== cuda_backend_bench $name"
  grep -aE "^(decode|prefill) |^copy|stage breakdown, B=1 T=1|stage breakdown, B=256 T=1" "$OUT/backend_bench_$name.log"
  sed -n '/stage breakdown, B=1 T=1 /,/stage breakdown, B=256/p' "$OUT/backend_bench_$name.log" | grep -a '^  '
done
echo "== engine_step_bench decode step p50 ms (setting x B)"
awk -F'[:,]' '{ for (i = 1; i < NF; i++) { if ($i ~ /"setting"/) s = $(i+1); if ($i ~ /"batch"/) b = $(i+1); if ($i ~ /"step_ms_p50"/) m = $(i+1) } gsub(/"/, "", s); printf "%-16s B=%-3s %s\n", s, b, m }' "$OUT/engine_steps.jsonl"
cat "$S"
