#!/usr/bin/env bash
# One call: every parity test (60 s cap each), every benchmark (90 s cap),
# then compute-sanitizer on the new parity tests and gdr_prefill's small cases.
set -uo pipefail
set -f  # gtest filters contain '*': no globbing
HERE=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
OUT=${OUT:-$HERE/out}; mkdir -p "$OUT"
S="$OUT/summary.txt"; : > "$S"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; echo "commit $(head -1 "$HERE/COMMIT")"; date -u; } > "$OUT/device.txt" 2>&1
note() { printf '%-34s %s\n' "$1" "$2" >> "$S"; }
: > "$OUT/tests.log"
set +f
tests=("$HERE"/bin/*_test)
set -f
for t in "${tests[@]}"; do n=$(basename "$t")
  echo "===== $n" >> "$OUT/tests.log"
  timeout 60 "$t" >> "$OUT/tests.log" 2>&1; rc=$?
  note "test $n" "rc=$rc $(grep -aE '^\[  (PASSED|FAILED) ' "$OUT/tests.log" | tail -1)"
done
: > "$OUT/bench.log"
for b in fused cms_slow swa_prefill gdr_decode swa_decode gdr_prefill cuda_backend; do
  if (( SECONDS > 250 )); then note "bench $b" "skipped (time)"; continue; fi
  echo "===== ${b}_bench" >> "$OUT/bench.log"
  timeout 90 "$HERE/bin/${b}_bench" >> "$OUT/bench.log" 2>&1; note "bench $b" "rc=$?"
done
: > "$OUT/sanitizer.log"
for spec in "memcheck fused_test *" "memcheck cms_slow_test *" "memcheck swa_prefill_test *" "racecheck gdr_prefill_test *B3_H2_d64_T130*:*B1_H1_d64_T1*" "racecheck swa_prefill_test *" "racecheck cms_slow_test *"; do
  set -- $spec
  if (( SECONDS > 330 )); then note "$1 $2" "skipped (time)"; continue; fi
  echo "===== $1 $2 $3" >> "$OUT/sanitizer.log"
  timeout 40 compute-sanitizer --tool "$1" --error-exitcode 99 "$HERE/bin/$2" --gtest_filter="$3" >> "$OUT/sanitizer.log" 2>&1; rc=$?
  note "$1 $2" "rc=$rc $(grep -aE 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer.log" | tail -1)"
done
cat "$OUT/device.txt"; grep -aE "FAILED|Failure|error" "$OUT/tests.log" | head -20
cat "$S"
