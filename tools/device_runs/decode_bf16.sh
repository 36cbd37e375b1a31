#!/usr/bin/env bash
# decode_bf16.sh: one call for issue 14 item 4, the bf16-weights mode: the
# bf16-weight decode GEMVs (kernels/gemv_decode, GemvWeights::kBf16), the
# widening kernel (kernels/bf16_dequant) and the backend end to end
# (CudaBackendOptions::weights, hecated --weights=bf16), from the bundle of
# tools/device_bf16_bundle.sh (carry .device_bf16):
#   1. parity: bf16_weights_test, gemv_decode_test, gemv_prep_test (fp32 and
#      bf16 cases), bf16_dequant_test, weight_format_test (CPU: what the
#      rounding alone costs), then cuda_backend_test (fp32 cases unchanged;
#      *_bf16w cases against the CPU reference on the rounded weights at
#      1e-4, and "vs fp32 weights" lines against the original ones);
#   2. compute-sanitizer memcheck and racecheck on the bf16 cases of the two
#      GEMV tests, the widening kernel, and memcheck on the backend's small
#      bf16 cases (GEMVs, widened GEMMs, graphs);
#   3. gemv_decode_bench: the fp32 tables (to compare with BENCHMARKS.md's
#      run at 95187d4: fp32 must not have moved) and the bf16 ones;
#   4. global-load widths in the GEMV kernels' SASS (bf16 kernels: LDG.128,
#      and the .64 of the half column group; no local memory);
#   5. cuda_backend_bench --quick: fp32 decode B=1 must stay ~0.575 ms; the
#      bf16w rows (and bf16w+tf32) beside it, floors on the bf16 bytes;
#   6. engine_step_bench decode B=1 and 256, prefill 2048, with
#      --weights=fp32 and bf16 (hecated's options).
# Items that would start past DEADLINE_S (default 400) seconds are skipped
# and say so. A short table comes last.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NOTE_WIDTH=40
# shellcheck source=tools/device_runs/run_lib.sh
source "$HERE/run_lib.sh"
B="$HERE/bin"

# 1. Parity.
for t in bf16_weights_test gemv_decode_test gemv_prep_test bf16_dequant_test weight_format_test \
         cuda_backend_test; do
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
  late "$tool bf16_dequant_test" ||
    sanitized "$tool bf16_dequant_test" "$OUT/$tool.bf16_dequant_test.log" 120 "$tool" \
      "$B/bf16_dequant_test"
done
late "memcheck cuda_backend_test bf16w" ||
  sanitized "memcheck cuda_backend_test bf16w" "$OUT/memcheck.cuda_backend_test.log" 240 memcheck \
    "$B/cuda_backend_test" --gtest_filter='*small_bf16w*:*BatchedDecodeBf16*:*GroupedPrefillBf16*'

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

# 5. The model: fp32, tf32, bf16w and bf16w+tf32 rows.
late "cuda_backend_bench --quick" || { timeout 200 "$B/cuda_backend_bench" --quick > "$OUT/backend_bench.log" 2>&1; note "cuda_backend_bench --quick" "rc=$?"; }

# 6. The engine's steps with hecated's options, fp32 and bf16 weights.
for w in fp32 bf16; do
  late "engine_step_bench $w" && continue
  engine_steps "weights_$w" 120 "" --backend=cuda --model=random:base --weights="$w" \
    --decode=1,256 --prefill=2048 --min_seconds=1
done

cat "$OUT/device.txt"
grep -aE "FAILED|Failure|error" "$OUT"/*test*.log | head -30
grep -a PARITY "$OUT/cuda_backend_test.log"
grep -a "BF16 ROUNDING" "$OUT/weight_format_test.log"
sed -n '/^weights/,$p' "$OUT/gemv_decode_bench.log"
sed -E 's/_ZN6hecate[A-Za-z0-9_]*(GemvDecodeKernel|GemvPrepKernel)/\1/' "$OUT/sass.txt"
grep -aE "^(decode|prefill) |^copy|^floor" "$OUT/backend_bench.log"
sed -n '/stage breakdown (bf16 weights)/,/^$/p' "$OUT/backend_bench.log"
cat "$OUT/engine_steps.jsonl" 2> /dev/null
cat "$S"
