#!/usr/bin/env bash
# decode_ring.sh: one call for issue 14 item 2, decode through the slow
# levels' rings (backends/cuda/state_ring.h, kernels/cms_slow/
# cms_ring_kernel.cu), from the bundle of tools/device_ring_bundle.sh
# (carry .device_ring):
#   1. parity: cms_ring_test (the kernels against the definition in
#      double), decode_ring_test (every state reader mid-ring, ring vs
#      dense), cuda_backend_test (now decoding through the rings),
#      cms_slow_test; cuda_backend_test again with HECATE_DECODE_DENSE_G=1
#      only if it failed;
#   2. compute-sanitizer memcheck on decode_ring_test (the ring kernel,
#      the fold and the origin kernels at d = 24 and 128);
#   3. cuda_backend_bench --quick before (HECATE_DECODE_DENSE_G=1) and
#      after: decode B=1, B=256, prefill T=2048, stage breakdowns;
#   4. engine_step_bench decode B=1,64,256 and prefill T=2048, before and after;
#   5. memcheck on cuda_backend_test's small and wide_heads cases, if time is left.
# Items that would start past DEADLINE_S (default 400) seconds are skipped
# and say so. A short table comes last.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=40
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"

# 1. Parity.
for t in cms_ring_test decode_ring_test cuda_backend_test cms_slow_test; do
  late "test $t" && continue
  timeout 180 "$B/$t" > "$OUT/$t.log" 2>&1; rc=$?
  note "test $t" "rc=$rc $(summary "$OUT/$t.log")"
  [[ $t == cuda_backend_test ]] && backend_rc=$rc
done
if [[ ${backend_rc:-0} != 0 ]] && ! late "cuda_backend_test dense G"; then
  HECATE_DECODE_DENSE_G=1 timeout 150 "$B/cuda_backend_test" > "$OUT/backend_dense.log" 2>&1
  note "cuda_backend_test HECATE_DECODE_DENSE_G=1" "rc=$? $(summary "$OUT/backend_dense.log")"
fi

# 2. memcheck on the new kernels.
if ! late "memcheck cms_ring_test"; then
  sanitized "memcheck cms_ring_test" "$OUT/memcheck.cms_ring_test.log" 60 memcheck \
    "$B/cms_ring_test"
fi
if ! late "memcheck decode_ring_test"; then
  sanitized "memcheck decode_ring_test" "$OUT/memcheck.decode_ring_test.log" 200 memcheck \
    "$B/decode_ring_test"
fi

# 3. The standard benchmark, before and after.
for s in "before HECATE_DECODE_DENSE_G=1" "after HECATE_DECODE_DENSE_G=0"; do
  read -r name vars <<< "$s"
  late "cuda_backend_bench $name" && continue
  env $vars timeout 150 "$B/cuda_backend_bench" --quick > "$OUT/backend_bench_$name.log" 2>&1
  note "cuda_backend_bench $name" "rc=$?"
done

# 4. Whole ForwardBatch steps.
: > "$OUT/engine_steps.jsonl"
for s in "before HECATE_DECODE_DENSE_G=1" "after HECATE_DECODE_DENSE_G=0"; do
  read -r name vars <<< "$s"
  late "engine_step_bench $name" && continue
  engine_steps "$name" 90 "$vars" --backend=cuda --model=random:base --decode=1,64,256 \
    --prefill=2048 --prefill_batch=1 --min_seconds=1
done

# 5. memcheck through the whole model.
if ! late "memcheck cuda_backend_test"; then
  sanitized "memcheck cuda_backend_test" "$OUT/memcheck.cuda_backend_test.log" 120 memcheck \
    "$B/cuda_backend_test" --gtest_filter='*small:*wide_heads:*BatchedDecode*'
fi

cat "$OUT/device.txt"
grep -aE "FAILED|Failure|rror" "$OUT"/*test*.log | grep -v "ERROR SUMMARY: 0" | head -30
grep -ah "PARITY\|ring vs dense" "$OUT"/cms_ring_test.log "$OUT"/decode_ring_test.log "$OUT"/cuda_backend_test.log
for name in before after; do
  echo "== cuda_backend_bench $name"
  grep -aE "^(decode|prefill) |^copy|^min floor" "$OUT/backend_bench_$name.log"
  sed -n '/stage breakdown, B=256 T=1 /,$p' "$OUT/backend_bench_$name.log" | head -14
  grep -a -A3 "stage breakdown, B=1 T=2048 (fp32, no graph)" "$OUT/backend_bench_$name.log" | grep -a "cms\|breakdown"
done
echo "== engine_step_bench step p50 ms"
awk -F'[:,]' '{ for (i = 1; i < NF; i++) { if ($i ~ /"setting"/) s = $(i+1); if ($i ~ /"case"/) c = $(i+1); if ($i ~ /"batch"/) b = $(i+1); if ($i ~ /"tokens"/) t = $(i+1); if ($i ~ /"step_ms_p50"/) m = $(i+1) } gsub(/"/, "", s); gsub(/"/, "", c); printf "%-8s %-8s B=%-4s T=%-5s %s\n", s, c, b, t, m }' "$OUT/engine_steps.jsonl"
cat "$S"
