#!/usr/bin/env bash
# device_bundle.sh: build the CUDA tests and benchmarks here and bundle them
# for the GPU machine.
#
# Builds every cc_test and *_bench cc_binary under //kernels/... with bazel,
# copies them into .device_bundle/bin and every shared library they load
# that the device machine lacks (absl, bazel's own solibs, cudart; not libc,
# libstdc++ or the driver) into .device_bundle/lib, and writes
# .device_bundle/run_all.sh, which runs them all there:
#
#   tools/device_bundle.sh                       # here (no GPU needed)
#   # on the device, with .device_bundle carried:
#   .device_bundle/run_all.sh                    # logs to $OUT
#   SANITIZE=1 .device_bundle/run_all.sh         # + compute-sanitizer
#   .device_bundle/parity_and_benchmarks.sh      # capped: fits one short call
#   .device_bundle/sanitize_parity.sh            # sanitizers on selected tests
#
# .device_bundle/ is git-ignored. cuBLAS is not bundled (the device has it).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

BUNDLE=.device_bundle
targets=$(bazel query --noshow_progress \
  'kind("cc_test", //kernels/...) + attr(name, "_bench$", kind("cc_binary", //kernels/...))' 2>/dev/null)
echo "targets:"; echo "$targets" | sed 's/^/  /'
# shellcheck disable=SC2086
bazel build --noshow_progress $targets

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/bin" "$BUNDLE/lib"
bins=()
for target in $targets; do
  pkg=${target#//}; pkg=${pkg%%:*}; name=${target##*:}
  bins+=("bazel-bin/$pkg/$name")
  cp -L "bazel-bin/$pkg/$name" "$BUNDLE/bin/$name"
  chmod u+w "$BUNDLE/bin/$name"
done
# shellcheck source=tools/bundle_lib.sh
source tools/bundle_lib.sh
copy_needed_libs "$BUNDLE/lib" "${bins[@]}"

# Scripted device runs whose results BENCHMARKS.md records.
cp tools/device_runs/*.sh "$BUNDLE/"
git rev-parse HEAD > "$BUNDLE/COMMIT"
git status --porcelain -- kernels tools >> "$BUNDLE/COMMIT" || true

cat > "$BUNDLE/run_all.sh" <<'RUN'
#!/usr/bin/env bash
# Runs every parity test and benchmark in this bundle; logs go to $OUT
# (at most 8 files). SANITIZE=1 adds compute-sanitizer memcheck and
# racecheck on the parity tests (after the benchmarks; skipped once
# DEADLINE_S seconds have passed); SASS=1 checks for 16-byte loads;
# BENCH=gdr_prefill runs only that benchmark.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
OUT=${OUT:-$HERE/out}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv;
  echo "bundle commit: $(head -1 "$HERE/COMMIT")"; date -u; } > "$OUT/device.txt" 2>&1
note() { printf '%-48s %s\n' "$1" "$2" >> "$SUMMARY"; }

for t in "$HERE"/bin/*_test; do
  name=$(basename "$t")
  if timeout 300 "$t" > "$OUT/$name.log" 2>&1; then r=PASS; else r="FAIL($?)"; fi
  note "test $name" "$r $(grep -E '^\[  (PASSED|FAILED|SKIPPED) *\] [0-9]+ tests?,?' "$OUT/$name.log" | sed 's/, listed below://' | tr '\n' ' ')"
done
# Fold per-test logs into one file (the $OUT file limit).
for f in "$OUT"/*_test.log; do echo "===== $(basename "$f")"; cat "$f"; done > "$OUT/tests.log" 2>/dev/null
rm -f "$OUT"/*_test.log

if [[ "${SASS:-0}" == 1 ]]; then
  : > "$OUT/sass.txt"
  for b in "$HERE"/bin/*_bench; do
    name=$(basename "$b")
    cuobjdump -sass "$b" > /tmp/sass_$name.txt 2>&1
    for fn in $(grep -oE 'Function : [A-Za-z0-9_]+' /tmp/sass_$name.txt | awk '{print $3}' | sort -u); do
      body=$(awk -v f="$fn" '/Function : /{p = ($3 == f)} p' /tmp/sass_$name.txt)
      wide=$(grep -cE 'LDG\.E(\.[A-Z0-9]+)*\.128' <<< "$body")
      narrow=$(grep -E 'LDG\.E' <<< "$body" | grep -vcE '\.(128|64)' )
      stl=$(grep -cE '\b(LDL|STL)\b' <<< "$body")
      echo "$name $fn LDG.128=$wide LDG.32=$narrow local=$stl" >> "$OUT/sass.txt"
    done
  done
  grep -i decode "$OUT/sass.txt" | sed 's/^/sass /' >> "$SUMMARY"
fi

: > "$OUT/bench.log"
for b in "$HERE"/bin/${BENCH:-*}_bench; do
  name=$(basename "$b")
  echo "===== $name" >> "$OUT/bench.log"
  if timeout 300 "$b" >> "$OUT/bench.log" 2>&1; then r=OK; else r="FAIL($?)"; fi
  note "bench $name" "$r"
done

if [[ "${SANITIZE:-0}" == 1 ]]; then
  : > "$OUT/sanitizer.log"
  for tool in memcheck racecheck; do
    for t in "$HERE"/bin/*_test; do
      name=$(basename "$t")
      # Stay inside one device call: skip what would not finish in time.
      if (( SECONDS > ${DEADLINE_S:-480} )); then
        note "$tool $name" "skipped (deadline)"; continue
      fi
      filter='*'
      # racecheck is slow on shared-memory-heavy kernels: smaller cases only.
      if [[ $tool == racecheck && $name == gdr_prefill_test ]]; then
        filter='*B3_H2_d64_T130*:*B2_H3_d128_T64*:*B1_H1_d64_T1*'
      fi
      echo "===== $tool $name ($filter)" >> "$OUT/sanitizer.log"
      timeout 150 compute-sanitizer --tool "$tool" --error-exitcode 99 \
        "$t" --gtest_filter="$filter" >> "$OUT/sanitizer.log" 2>&1
      rc=$?
      line=$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer.log" | tail -1)
      note "$tool $name" "rc=$rc $line"
    done
  done
fi

echo; cat "$OUT/device.txt"; echo
cat "$OUT/bench.log" | grep -vE '^(device|copy)' | tail -60
echo; echo "== summary"; cat "$SUMMARY"
RUN
chmod +x "$BUNDLE/run_all.sh"
du -sh "$BUNDLE"; ls "$BUNDLE/bin" "$BUNDLE/lib" | head -80
