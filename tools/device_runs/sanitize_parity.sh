#!/usr/bin/env bash
# compute-sanitizer over the parity tests added or changed last (the list
# below, 45 s each), or with `all`: memcheck and racecheck on every test in
# the bundle (150 s each). Items that would start past DEADLINE_S seconds
# (default 270) are skipped and say so.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
OUT=${OUT:-$HERE/out}; mkdir -p "$OUT"
S="$OUT/summary.txt"; : > "$S"; : > "$OUT/sanitizer.log"
if [[ "${1:-}" == all ]]; then
  cap=150
  list=$(for tool in memcheck racecheck; do
           for t in "$HERE"/bin/*_test; do echo "$tool $(basename "$t") *"; done
         done)
else
  cap=45
  list=$(sed -n '/^LIST$/,$p' "$0" | sed '1d')
fi
set -f  # gtest filters contain '*': no globbing from here on
while read -r tool test filter; do
  if (( SECONDS > ${DEADLINE_S:-270} )); then printf '%-10s %-18s %s\n' "$tool" "$test" "skipped (time)" >> "$S"; continue; fi
  echo "===== $tool $test $filter" >> "$OUT/sanitizer.log"
  timeout "$cap" compute-sanitizer --tool "$tool" --error-exitcode 99 "$HERE/bin/$test" --gtest_filter="$filter" >> "$OUT/sanitizer.log" 2>&1; rc=$?
  printf '%-10s %-18s %-40s rc=%s %s | %s\n' "$tool" "$test" "$filter" "$rc" \
    "$(grep -aE 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer.log" | tail -1)" \
    "$(grep -aE '^\[  (PASSED|FAILED) ' "$OUT/sanitizer.log" | tail -1)" >> "$S"
done <<< "$list"
cat "$S"
exit 0

# The tests added or changed last: tool, test binary, gtest filter.
LIST
memcheck gdr_prefill_test *B3_H2_d64_T130*:*B2_H3_d128_T64*:*B1_H1_d64_T1*
memcheck cms_slow_test *
memcheck swa_prefill_test *
memcheck fused_test *
racecheck gdr_prefill_test *B3_H2_d64_T130*:*B1_H1_d64_T1*:*B1_H2_d128_T200*
racecheck swa_prefill_test *
racecheck cms_slow_test *
