#!/usr/bin/env bash
# device_bundle.sh: build the CUDA backend's parity test and benchmark here
# and bundle them, with every shared library the device machine lacks, into
# .cuda_backend_bundle/ (git-ignored via .git/info/exclude), plus run.sh:
#
#   kernels/cuda_backend/device_bundle.sh            # here (no GPU needed)
#   # on the device, with .cuda_backend_bundle carried:
#   .cuda_backend_bundle/run.sh                      # logs to $OUT
#   SANITIZE=1 .cuda_backend_bundle/run.sh           # + compute-sanitizer memcheck
#
# (tools/device_bundle.sh bundles every kernel target; this one only the
# backend's, to keep one device call short.)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

BUNDLE=.cuda_backend_bundle
exclude=$(git rev-parse --git-path info/exclude); mkdir -p "$(dirname "$exclude")"
grep -qxF "/$BUNDLE/" "$exclude" 2>/dev/null || echo "/$BUNDLE/" >> "$exclude"
targets="//kernels/cuda_backend:cuda_backend_test //kernels/cuda_backend:cuda_backend_bench"
# shellcheck disable=SC2086
bazel build --noshow_progress $targets

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/bin" "$BUNDLE/lib"
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libstdc\+\+\.so|libgcc_s\.so|libcuda\.so|libcublas)'
for target in $targets; do
  pkg=${target#//}; pkg=${pkg%%:*}; name=${target##*:}; bin="bazel-bin/$pkg/$name"
  cp -L "$bin" "$BUNDLE/bin/$name"
  chmod u+w "$BUNDLE/bin/$name"
  ldd "$bin" | awk '/=>/ {print $1, $3}' | while read -r soname path; do
    if [[ "$soname" =~ $skip ]]; then continue; fi
    if [[ "$path" == "not" || ! -e "$path" ]]; then
      echo "unresolved library $soname for $bin" >&2; exit 1
    fi
    [[ -e "$BUNDLE/lib/$soname" ]] || cp -L "$path" "$BUNDLE/lib/$soname"
  done
done
git rev-parse HEAD > "$BUNDLE/COMMIT"
git status --porcelain -- kernels/cuda_backend kernels/fused kernels/cms_slow \
  kernels/swa_prefill >> "$BUNDLE/COMMIT" || true

cat > "$BUNDLE/run.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the CUDA backend parity test and benchmark; logs go to $OUT.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$HERE/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
OUT=${OUT:-$HERE/out}
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv;
  echo "bundle commit: $(head -1 "$HERE/COMMIT")"; date -u; } > "$OUT/device.txt" 2>&1
timeout 300 "$HERE/bin/cuda_backend_test" ${TEST_ARGS:-} > "$OUT/test.log" 2>&1
echo "test rc=$?" >> "$OUT/test.log"
if [[ "${SKIP_BENCH:-0}" != 1 ]]; then
  timeout 300 "$HERE/bin/cuda_backend_bench" ${BENCH_ARGS:-} > "$OUT/bench.log" 2>&1
  echo "bench rc=$?" >> "$OUT/bench.log"
fi
if [[ "${SANITIZE:-0}" == 1 ]]; then
  timeout 240 compute-sanitizer --tool memcheck --error-exitcode 99 "$HERE/bin/cuda_backend_test" \
    --gtest_filter="${SANITIZE_FILTER:-*/small:*/wide_heads:*Batched*:*Validation*}" \
    > "$OUT/sanitizer.log" 2>&1
  echo "memcheck rc=$?" >> "$OUT/sanitizer.log"
  timeout "${RACECHECK_S:-150}" compute-sanitizer --tool racecheck --error-exitcode 99 \
    "$HERE/bin/cuda_backend_test" --gtest_filter="${RACECHECK_FILTER:-*/small_step64:*/tiny}" \
    >> "$OUT/sanitizer.log" 2>&1
  echo "racecheck rc=$?" >> "$OUT/sanitizer.log"
fi
cat "$OUT/device.txt"
grep -E "^\[  (FAILED|PASSED|SKIPPED) |FAILED|^PARITY|rc=|Failure|error" "$OUT/test.log" | head -40
[[ -f "$OUT/bench.log" ]] && cat "$OUT/bench.log"
[[ -f "$OUT/sanitizer.log" ]] && grep -E "ERROR SUMMARY|RACECHECK SUMMARY|rc=|^PARITY" "$OUT/sanitizer.log"
exit 0
RUN
chmod +x "$BUNDLE/run.sh"
du -sh "$BUNDLE"; ls "$BUNDLE/bin" "$BUNDLE/lib"
