#!/usr/bin/env bash
# stage_stream.sh: issue 14 item 1, how fast a decode step's 48 weight
# stages can stream by launch structure alone (one launch per stage, with
# and without PDL, against one persistent cooperative kernel with grid
# barriers; kernels/gemv_decode/stage_stream_bench.cc), beside the decode
# GEMVs' own chain, from the bundle of tools/device_decode_bundle.sh built
# with RUN_SCRIPT=stage_stream.sh (carry .device_decode_pack). Each
# benchmark runs twice.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"
for round in 1 2; do
  timeout 120 "$B/stage_stream_bench" > "$OUT/stage_stream.$round.log" 2>&1
  note "stage_stream_bench r$round" "rc=$?"
  timeout 90 "$B/gemv_decode_bench" > "$OUT/gemv_bench.$round.log" 2>&1
  note "gemv_decode_bench r$round" "rc=$?"
done
for round in 1 2; do
  echo "== stage_stream_bench, round $round"
  grep -avE '^(WARNING|I[0-9])' "$OUT/stage_stream.$round.log" | tail -12
  echo "== gemv_decode_bench fp32 chain, round $round (rows | +prep pdl us | chain pdl | chain | cublas | x floor)"
  grep -aE '^[1248] ' "$OUT/gemv_bench.$round.log" | head -4
done
cat "$S"
