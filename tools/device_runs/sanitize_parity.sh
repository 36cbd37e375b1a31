#!/usr/bin/env bash
# compute-sanitizer over the parity tests added or changed last (40 s each).
set -uo pipefail
set -f  # gtest filters contain '*': no globbing
HERE=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
OUT=${OUT:-$HERE/out}; mkdir -p "$OUT"
S="$OUT/summary.txt"; : > "$S"; : > "$OUT/sanitizer.log"
while read -r tool test filter; do
  if (( SECONDS > 270 )); then printf '%-10s %-18s %s\n' "$tool" "$test" "skipped (time)" >> "$S"; continue; fi
  echo "===== $tool $test $filter" >> "$OUT/sanitizer.log"
  timeout 45 compute-sanitizer --tool "$tool" --error-exitcode 99 "$HERE/bin/$test" --gtest_filter="$filter" >> "$OUT/sanitizer.log" 2>&1; rc=$?
  printf '%-10s %-18s %-40s rc=%s %s | %s\n' "$tool" "$test" "$filter" "$rc" \
    "$(grep -aE 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer.log" | tail -1)" \
    "$(grep -aE '^\[  (PASSED|FAILED) ' "$OUT/sanitizer.log" | tail -1)" >> "$S"
done <<'LIST'
memcheck gdr_prefill_test *B3_H2_d64_T130*:*B2_H3_d128_T64*:*B1_H1_d64_T1*
memcheck cms_slow_test *
memcheck swa_prefill_test *
memcheck fused_test *
racecheck gdr_prefill_test *B3_H2_d64_T130*:*B1_H1_d64_T1*:*B1_H2_d128_T200*
racecheck swa_prefill_test *
racecheck cms_slow_test *
LIST
cat "$S"
