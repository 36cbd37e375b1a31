#!/usr/bin/env bash
# prefill_tiles.sh: one call for the prefill kernels on tensor cores (issue
# 14 item 3): the slow levels' span tiles (cms_span_tile_kernel.cu) and
# sliding-window attention (swa_prefill_mma.cu). Parity tests (both
# kernels' own and the backend's), compute-sanitizer on their small cases,
# swa_prefill_bench and cms_slow_bench (each against the kernel it
# replaces, same run) and cuda_backend_bench --quick (the T=2048 stage
# breakdown). Items that would start past DEADLINE_S (default 240) seconds
# are skipped and say so. A short table comes last.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=28
DEADLINE_S=${DEADLINE_S:-240}
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
for t in swa_prefill_test cms_slow_test cuda_backend_test; do
  late "test $t" && continue
  timeout 90 "$HERE/bin/$t" > "$OUT/$t.log" 2>&1; rc=$?
  note "test $t" "rc=$rc $(summary "$OUT/$t.log")"
done
for tool in memcheck racecheck; do
  late "$tool swa_prefill_test" && continue
  sanitized "$tool swa_prefill_test" "$OUT/${tool}_swa.log" 60 "$tool" \
    "$HERE/bin/swa_prefill_test" --gtest_filter='*d64*:*d128_tiled*:*single_token*'
  late "$tool cms_slow_test" && continue
  sanitized "$tool cms_slow_test" "$OUT/${tool}_cms.log" 60 "$tool" "$HERE/bin/cms_slow_test" \
    --gtest_filter='*tiles*:-*T2048*:*T300*'
done
for b in swa_prefill_bench cms_slow_bench "cuda_backend_bench --quick"; do
  late "bench $b" && continue
  timeout 120 "$HERE/bin/"$b > "$OUT/${b%% *}.log" 2>&1; note "bench $b" "rc=$?"
done
cat "$OUT/device.txt"
grep -aE "FAILED|Failure" "$OUT"/*_test.log | head -20
grep -a "rel err" "$OUT/swa_prefill_test.log" | awk '{ print $NF, $0 }' | sort -g | tail -2
sed -n '/^swa_prefill: base/,$p' "$OUT/swa_prefill_bench.log"
sed -n '/^prefill from pulse 0/,$p' "$OUT/cms_slow_bench.log" | grep -E "kernel| 2048 "
grep -aE "^(decode|prefill) " "$OUT/cuda_backend_bench.log"
grep -aE -A12 "stage breakdown, B=1 T=2048 \(fp32, no graph\)" "$OUT/cuda_backend_bench.log"
cat "$S"
