#!/usr/bin/env bash
# decode_bf16.sh: one call for issue 14 item 4's groundwork, the bf16-weight
# decode GEMVs (kernels/gemv_decode, GemvWeights::kBf16; not yet used by the
# backend), from the bundle of tools/device_bf16_bundle.sh (carry
# .device_bf16):
#   1. parity: bf16_weights_test, gemv_decode_test, gemv_prep_test (fp32 and
#      bf16 cases), then cuda_backend_test (the fp32 path through the
#      changed GemvDecodeParams must still pass);
#   2. compute-sanitizer memcheck and racecheck on the bf16 cases of the two
#      GEMV tests;
#   3. gemv_decode_bench: the fp32 tables (to compare with BENCHMARKS.md's
#      run at 95187d4: fp32 must not have moved) and the bf16 ones;
#   4. global-load widths in the GEMV kernels' SASS (bf16 kernels: LDG.128,
#      and the .64 of the half column group; no local memory);
#   5. cuda_backend_bench --quick (fp32 decode B=1 must stay ~0.575 ms).
# Items that would start past DEADLINE_S (default 400) seconds are skipped
# and say so. A short table comes last.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=40
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"

# 1. Parity.
for t in bf16_weights_test gemv_decode_test gemv_prep_test cuda_backend_test; do
  late "test $t" && continue
  timeout 150 "$B/$t" > "$OUT/$t.log" 2>&1
  note "test $t" "rc=$? $(summary "$OUT/$t.log")"
done
# Worst "rel err" over the GEMV tests' lines matching $1 and not $2.
worst() { grep -ahE "$1" "$OUT"/gemv_*_test.log | grep -avE "$2" | grep -aoE 'rel err [0-9.e+-]+' |
  awk '{ if ($3 > m) m = $3 } END { print m }'; }
note "fp32 worst rel err (tol 1e-5)" "$(worst 'rel err' 'bf16')"
note "bf16 vs rounded worst (tol 1e-5)" "$(worst 'bf16' 'fp32 weights')"
note "bf16 vs fp32 weights worst (tol 3e-3)" "$(worst 'fp32 weights' '^$')"

# 2. compute-sanitizer on the bf16 instantiations.
for tool in memcheck racecheck; do
  for t in gemv_decode_test gemv_prep_test; do
    late "$tool $t bf16" && continue
    sanitized "$tool $t bf16" "$OUT/$tool.$t.log" 120 "$tool" "$B/$t" --gtest_filter='*Bf16*'
  done
done

# 3. The GEMVs alone, fp32 and bf16.
late "bench gemv_decode" || { timeout 150 "$B/gemv_decode_bench" > "$OUT/gemv_decode_bench.log" 2>&1; note "bench gemv_decode" "rc=$?"; }

# 4. Load widths of every GEMV kernel, from the bundled libraries that hold
# them (fp32 and bf16 alike read x, gain and y 4 bytes at a time).
if ! late "sass loads"; then
  : > "$OUT/sass.txt"
  for f in "$HERE"/lib/*.so "$B"/gemv_decode_bench; do
    sass=$(cuobjdump -sass "$f" 2> /dev/null) || continue
    for fn in $(grep -oE 'Function : [A-Za-z0-9_]+' <<< "$sass" | awk '{print $3}' |
                grep -E 'Gemv(Decode|Prep)Kernel' | sort -u); do
      body=$(awk -v f="$fn" '/Function : /{p = ($3 == f)} p' <<< "$sass")
      echo "$fn LDG.128=$(grep -cE 'LDG\.E(\.[A-Z0-9]+)*\.128' <<< "$body")" \
        "LDG.64=$(grep -cE 'LDG\.E(\.[A-Z0-9]+)*\.64' <<< "$body")" \
        "LDG.32=$(grep -E 'LDG\.E' <<< "$body" | grep -vcE '\.(128|64)')" \
        "local=$(grep -cE '\b(LDL|STL)\b' <<< "$body")" >> "$OUT/sass.txt"
    done
  done
  note "sass loads" "$(wc -l < "$OUT/sass.txt") GEMV kernels"
fi

# 5. The fp32 model path, unchanged in intent.
late "cuda_backend_bench --quick" || { timeout 150 "$B/cuda_backend_bench" --quick > "$OUT/backend_bench.log" 2>&1; note "cuda_backend_bench --quick" "rc=$?"; }

cat "$OUT/device.txt"
grep -aE "FAILED|Failure|error" "$OUT"/*test*.log | head -30
grep -a PARITY "$OUT/cuda_backend_test.log"
sed -n '/^weights/,$p' "$OUT/gemv_decode_bench.log"
sed -E 's/_ZN6hecate[A-Za-z0-9_]*(GemvDecodeKernel|GemvPrepKernel)/\1/' "$OUT/sass.txt"
grep -aE "^(decode|prefill) |^copy" "$OUT/backend_bench.log"
cat "$S"
