#!/usr/bin/env bash
# cms_spans.sh: one call for the span-wise slow-level kernel (issue 14 item
# 3): the CMS and backend parity tests, compute-sanitizer on the span-wise
# cases, the cms_slow benchmark (row kernel vs span-wise, same run) and
# cuda_backend_bench --quick (its T=2048 breakdown runs with the span-wise
# kernel and again token by token). Items that would start past DEADLINE_S
# (default 240) seconds are skipped and say so. A short table comes last.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=28
# shellcheck source=tools/device_runs/run_lib.sh
DEADLINE_S=${DEADLINE_S:-240}
source "$HERE/run_lib.sh"
for t in cms_slow_test cuda_backend_test; do
  late "test $t" && continue
  timeout 90 "$HERE/bin/$t" > "$OUT/$t.log" 2>&1; rc=$?
  note "test $t" "rc=$rc $(grep -aE '^\[  (PASSED|FAILED) ' "$OUT/$t.log" | tail -1)"
done
note "cms_slow_test worst rel err" "$(grep -aoE 'rel err [0-9.e+-]+' "$OUT/cms_slow_test.log" | awk '{ if ($3 > m) m = $3 } END { print m }')"
filter='*spans*:*tiles*:*chunks*:-*T2048*:*T300*'
for tool in memcheck racecheck; do
  late "$tool" && continue
  sanitized "$tool cms_slow_test" "$OUT/$tool.log" 60 "$tool" "$HERE/bin/cms_slow_test" \
    --gtest_filter="$filter"
done
for b in cms_slow_bench "cuda_backend_bench --quick"; do
  late "bench $b" && continue
  timeout 120 "$HERE/bin/"$b > "$OUT/${b%% *}.log" 2>&1; note "bench $b" "rc=$?"
done
cat "$OUT/device.txt"
grep -aE "FAILED|Failure" "$OUT"/*_test.log | head -20
grep -a PARITY "$OUT/cuda_backend_test.log"
sed -n '/^prefill from pulse 0/,$p' "$OUT/cms_slow_bench.log"
grep -aE "^(decode|prefill) " "$OUT/cuda_backend_bench.log"
grep -aE "stage breakdown, B=1 T=2048|  cms " "$OUT/cuda_backend_bench.log"
cat "$S"
