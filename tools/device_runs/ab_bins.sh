#!/usr/bin/env bash
# ab_bins.sh: one kernel change against the commit it starts from, in one
# device call: the bundle of tools/device_decode_bundle.sh (built with
# RUN_SCRIPT=ab_bins.sh at the base commit) plus the changed tree's shared
# libraries (the kernels live in bazel's solibs) copied into the bundle as
# lib_b/ before packing; "b" runs put lib_b first on LD_LIBRARY_PATH. Runs
# the parity tests on b, then gemv_decode_bench and engine_step_bench
# decode B=1,2 (fp32 and bf16 weights) on both, two interleaved rounds.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=36
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"
A_PATH=$LD_LIBRARY_PATH
B_PATH="$HERE/lib_b:$LD_LIBRARY_PATH"
for t in gemv_decode_test gemv_prep_test cuda_backend_test; do
  late "test b $t" && continue
  LD_LIBRARY_PATH=$B_PATH timeout 150 "$B/$t" > "$OUT/$t.b.log" 2>&1
  note "test b $t" "rc=$? $(summary "$OUT/$t.b.log")"
done
for round in 1 2; do
  for v in a b; do
    export LD_LIBRARY_PATH=$A_PATH; [[ $v == b ]] && export LD_LIBRARY_PATH=$B_PATH
    late "gemv_decode_bench $v r$round" || { timeout 60 "$B/gemv_decode_bench" > "$OUT/gemv_bench.$v.$round.log" 2>&1; note "gemv_decode_bench $v r$round" "rc=$?"; }
    for w in fp32 bf16; do
      late "engine_step_bench $v.$w r$round" && continue
      engine_steps "$v.$w" 60 "" --backend=cuda --model=random:base --weights="$w" --decode=1,2 --prefill= --min_seconds=1
    done
  done
done
echo "== gemv_decode_bench: fp32 chain at 1 row (+prep pdl | chain pdl), then per projection at 1 row"
for f in "$OUT"/gemv_bench.*.log; do
  echo "-- $(basename "$f")"; grep -aE '^1 ' "$f" | head -1; grep -aE '\) +1 ' "$f" | grep -av bf16
done
echo "== engine_step_bench decode step p50 ms"
step_table
cat "$S"
