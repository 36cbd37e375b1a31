#!/usr/bin/env bash
# device_e2e_bundle.sh: the end-to-end suite (tests/*_test driving a real
# hecated) bundled for the GPU machine, so the same tests run there against
# hecated --backend=cuda.
#
#   tools/device_e2e_bundle.sh                 # here: build and bundle
#   .device_e2e/run_e2e.sh                     # there: logs to $OUT
#   .device_e2e/model_quality.sh               # there: the shipped model's quality, CUDA vs trainer
#   .device_e2e/serving_vs_engine.sh           # there: served vs engine tokens/s (issue 12)
#   .device_e2e/serving_run.sh                 # there: all of issue 12 in one call (below)
#
# The bundle (~45 MB) with the tracked tree passes the device tool's 64 MiB
# carry limit only compressed: the script also writes
# .device_e2e_pack/bundle.tar.xz (~9 MB) and .device_e2e_pack/run.sh, so one
# call is `run(command="bash .device_e2e_pack/run.sh", carry=[".device_e2e_pack"])`:
# unpack, then serving_run.sh (CUDA parity incl. bucketed decode graphs,
# served vs engine, 16 x 2048 prefill, the fairness test and the e2e suite).
#
# The bundle mirrors Bazel's runfiles tree (TEST_SRCDIR/hecate/...) so the
# tests find hecated as they do under bazel test, plus lib/ with every shared
# library ldd resolves that the device image may lack. Git-ignored.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

BUNDLE=.device_e2e
TESTS=(isolation_test streaming_test checkpoint_e2e_test checkpoint_storage_e2e_test drain_metrics_test score_test exactly_once_test generation_options_test
       transcript_e2e_test session_expiry_e2e_test session_update_e2e_test fairness_test bench_e2e_test
       model_info_e2e_test)
bazel build --noshow_progress //server:hecated //client:hecatectl //backends/cuda:engine_step_bench \
  //backends/cuda:cuda_backend_test //backends/cuda:cuda_backend_state_test //backends/cuda:state_memory_test \
  "${TESTS[@]/#///tests:}"

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/runfiles/hecate/server" "$BUNDLE/runfiles/hecate/tests" "$BUNDLE/lib"
cp -L bazel-bin/server/hecated "$BUNDLE/runfiles/hecate/server/"
mkdir -p "$BUNDLE/runfiles/hecate/client"
cp -L bazel-bin/client/hecatectl "$BUNDLE/runfiles/hecate/client/"
cp tools/device_runs/model_quality.sh "$BUNDLE/"
# serving_vs_engine.sh: served tokens/s beside engine_step_bench's (issue 12).
mkdir -p "$BUNDLE/runfiles/hecate/backends/cuda"
cp -L bazel-bin/backends/cuda/engine_step_bench bazel-bin/backends/cuda/cuda_backend_test \
  bazel-bin/backends/cuda/cuda_backend_state_test bazel-bin/backends/cuda/state_memory_test \
  "$BUNDLE/runfiles/hecate/backends/cuda/"
cp tools/device_runs/serving_vs_engine.sh tools/device_runs/serving_run.sh \
  tools/device_runs/serving_profile.sh "$BUNDLE/"
for t in "${TESTS[@]}"; do cp -L "bazel-bin/tests/$t" "$BUNDLE/runfiles/hecate/tests/"; done
# run_e2e.sh runs what was bundled: one list, here.
printf '%s\n' "${TESTS[@]}" > "$BUNDLE/TESTS"
chmod -R u+w "$BUNDLE"

# shellcheck source=tools/bundle_lib.sh
source tools/bundle_lib.sh
copy_needed_libs "$BUNDLE/lib" bazel-bin/server/hecated bazel-bin/client/hecatectl \
  bazel-bin/backends/cuda/engine_step_bench bazel-bin/backends/cuda/cuda_backend_test \
  bazel-bin/backends/cuda/cuda_backend_state_test bazel-bin/backends/cuda/state_memory_test \
  "${TESTS[@]/#/bazel-bin/tests/}"
# gperftools' CPU profiler for serving_profile.sh, when installed here
# (apt-get install google-perftools); not needed by anything else.
profiler=/usr/lib/x86_64-linux-gnu/libprofiler.so.0
if [[ -e $profiler ]]; then
  cp -L "$profiler" "$BUNDLE/lib/"
  copy_needed_libs "$BUNDLE/lib" "$profiler"
fi
# The device image has OpenSSL 3 and CUDA 13's runtime itself; symbols are
# not needed there.
drop_device_provided_libs "$BUNDLE/lib"
chmod -R u+w "$BUNDLE"
strip "$BUNDLE"/runfiles/hecate/*/* "$BUNDLE"/runfiles/hecate/backends/cuda/* \
  "$BUNDLE"/lib/lib{backends,kernels,runtime,base,server,sessions,client,proto}_* 2>/dev/null || true
git rev-parse HEAD > "$BUNDLE/COMMIT"

cat > "$BUNDLE/run_e2e.sh" <<'RUN'
#!/usr/bin/env bash
# Runs the end-to-end suite against hecated on the GPU (--backend=cuda, and
# the streaming and score suites again with inputs cut into small engine
# slices, the score suite with bf16 weights); logs to $OUT.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
export TEST_SRCDIR="$HERE/runfiles" TEST_WORKSPACE=hecate
OUT=${OUT:-$HERE/out}
mkdir -p "$OUT"
: > "$OUT/e2e.log"
summary=""
run() {  # name flags
  local name=$1 flags=$2 tmp
  tmp=$(mktemp -d)
  echo "===== $name [$flags]" >> "$OUT/e2e.log"
  if TEST_TMPDIR=$tmp HECATE_E2E_EXTRA_FLAGS="$flags" timeout 300 \
      "$HERE/runfiles/hecate/tests/$name" >> "$OUT/e2e.log" 2>&1; then r=PASS; else r="FAIL($?)"; fi
  grep -h "serving" "$tmp"/hecated-*.log 2>/dev/null | head -1 | sed 's/^.*hecated serving/  hecated serving/' >> "$OUT/e2e.log"
  summary+=$(printf '%-24s %-40s %s' "$name" "$flags" "$r")$'\n'
  rm -rf "$tmp"
}
mapfile -t tests < "$HERE/TESTS"  # read first: the tests must not eat the list on stdin
for t in "${tests[@]}"; do
  run "$t" "--backend=cuda"
done
run streaming_test "--backend=cuda --max_slice_tokens=7 --step_token_budget=20"
run score_test "--backend=cuda --max_slice_tokens=7 --step_token_budget=20"
run score_test "--backend=cuda --weights=bf16"
run score_test "--backend=cuda --gemm=3xtf32"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "$summary"
RUN
chmod +x "$BUNDLE/run_e2e.sh"
du -sh "$BUNDLE"

pack_bundle "$BUNDLE" serving_run.sh
