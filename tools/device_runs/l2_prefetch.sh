#!/usr/bin/env bash
# l2_prefetch.sh: issue 14 item 1, two decode-step switches of
# backends/cuda/forward_engine_layer.cc: weights prefetched into L2 while
# the step's latency-bound stages run (kernels/gemv_decode/l2_prefetch.h;
# HECATE_DECODE_L2_PREFETCH bits) and the MAG+Wo GEMV as a programmatic
# dependent after the mixers' join (HECATE_DECODE_WO_PDL), from the bundle
# of tools/device_decode_bundle.sh built with RUN_SCRIPT=l2_prefetch.sh
# (carry .device_decode_pack):
#   1. l2_prefetch_test, and cuda_backend_test with both switches off and
#      with ALL (parity: results never depend on them);
#   2. engine_step_bench decode B=1,2,4 (fp32 weights, then bf16) at each
#      of SETTINGS, twice, interleaved; a setting is NAME:VAR=V,VAR=V
#      ("base" alone: no switch);
#   3. gemv_decode_bench (the GEMVs alone, for the floor);
#   4. cuda_backend_bench --quick with no switch and with BEST;
#   5. compute-sanitizer memcheck on l2_prefetch_test and on cuda_backend_test
#      (tiny) with ALL.
# Items that would start past DEADLINE_S (default 400) seconds are skipped.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=40
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"
SETTINGS=${SETTINGS:-base pf1:HECATE_DECODE_L2_PREFETCH=1 pf3:HECATE_DECODE_L2_PREFETCH=3 pf5:HECATE_DECODE_L2_PREFETCH=5 wo:HECATE_DECODE_WO_PDL=1}
ALL=${ALL:-HECATE_DECODE_L2_PREFETCH=7 HECATE_DECODE_WO_PDL=1}
BEST=${BEST:-$ALL}
name_of() { echo "${1%%:*}"; }
vars_of() { [[ $1 == *:* ]] && echo "${1#*:}" | tr ',' ' '; }

timeout 60 "$B/l2_prefetch_test" > "$OUT/l2_prefetch_test.log" 2>&1
note "test l2_prefetch_test" "rc=$? $(summary "$OUT/l2_prefetch_test.log")"
for which in base all; do
  late "test cuda_backend_test $which" && continue
  vars=""; [[ $which == all ]] && vars=$ALL
  # shellcheck disable=SC2086
  env $vars timeout 150 "$B/cuda_backend_test" > "$OUT/backend_test.$which.log" 2>&1
  note "test cuda_backend_test $which" "rc=$? $(summary "$OUT/backend_test.$which.log")"
done
for round in 1 2; do
  for weights in fp32 bf16; do
    for setting in $SETTINGS; do
      name=$(name_of "$setting")
      late "engine_step_bench $weights $name r$round" && continue
      engine_steps "$weights.$name" 60 "$(vars_of "$setting")" --backend=cuda \
        --model=random:base --weights="$weights" --decode=1,2,4 --prefill= --min_seconds=1
    done
  done
done
late "gemv_decode_bench" || { timeout 60 "$B/gemv_decode_bench" > "$OUT/gemv_bench.log" 2>&1; note "gemv_decode_bench" "rc=$?"; }
for which in base best; do
  late "cuda_backend_bench $which" && continue
  vars=""; [[ $which == best ]] && vars=$BEST
  # shellcheck disable=SC2086
  env $vars timeout 120 "$B/cuda_backend_bench" --quick > "$OUT/backend_bench.$which.log" 2>&1
  note "cuda_backend_bench --quick $which" "rc=$?"
done
late "memcheck l2_prefetch_test" || sanitized "memcheck l2_prefetch_test" "$OUT/memcheck.l2_prefetch_test.log" 60 memcheck "$B/l2_prefetch_test"
if ! late "memcheck cuda_backend_test"; then
  # shellcheck disable=SC2086,SC2163  # VAR=V words
  export $ALL
  sanitized "memcheck cuda_backend_test tiny, all" "$OUT/memcheck.backend_test.log" 120 memcheck "$B/cuda_backend_test" --gtest_filter='*/tiny:*/tiny_bf16w:CudaBackendBatchTest.BatchedDecodeMatchesCpu'
  unset HECATE_DECODE_L2_PREFETCH HECATE_DECODE_WO_PDL
fi

echo "== gemv_decode_bench, fp32 chain (rows | +prep pdl us | chain pdl | chain | cublas | x floor)"
grep -aE '^[1248] ' "$OUT/gemv_bench.log" | head -4
echo "== engine_step_bench decode step p50 ms (weights.bits batch: rounds)"
python3 - "$OUT/engine_steps.jsonl" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    try: r = json.loads(line)
    except ValueError: continue
    rows.setdefault((r["setting"], r.get("batch")), []).append(r.get("step_ms_p50"))
for (s, b), v in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
    print(f"{s:8s} B={b}: " + " / ".join(f"{x:.3f}" for x in v if isinstance(x, float)))
PY
for which in base best; do
  echo "-- cuda_backend_bench $which"
  grep -aE "^(decode|prefill) " "$OUT/backend_bench.$which.log" | head -12
done
cat "$S"
