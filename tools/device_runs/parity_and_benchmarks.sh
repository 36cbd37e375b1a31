#!/usr/bin/env bash
# One call: every parity test (60 s cap each), then every benchmark (90 s
# cap, skipped past 250 s). compute-sanitizer runs separately:
# sanitize_parity.sh in this folder.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
: > "$OUT/tests.log"
for t in "$HERE"/bin/*_test; do n=$(basename "$t")
  log=$(timeout 60 "$t" 2>&1); rc=$?
  printf '===== %s\n%s\n' "$n" "$log" >> "$OUT/tests.log"
  # This test's own summary line: none when it crashed or timed out.
  note "test $n" "rc=$rc $(grep -aE '^\[  (PASSED|FAILED) ' <<< "$log" | tail -1)"
done
: > "$OUT/bench.log"
for b in fused cms_slow swa_prefill gdr_decode swa_decode gdr_prefill cuda_backend; do
  if (( SECONDS > 250 )); then note "bench $b" "skipped (time)"; continue; fi
  echo "===== ${b}_bench" >> "$OUT/bench.log"
  timeout 90 "$HERE/bin/${b}_bench" >> "$OUT/bench.log" 2>&1; note "bench $b" "rc=$?"
done
cat "$OUT/device.txt"; grep -aE "FAILED|Failure|error" "$OUT/tests.log" | head -20
cat "$S"
