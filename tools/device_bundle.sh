#!/usr/bin/env bash
# device_bundle.sh: build the CUDA tests and benchmarks here and bundle them
# for the GPU machine.
#
# Builds every cc_test and *_bench cc_binary under //kernels/... and //backends/cuda/...
# with bazel, copies them into .device_bundle/bin and every shared library they load
# that the device machine lacks (absl, bazel's own solibs, cudart; not libc,
# libstdc++ or the driver) into .device_bundle/lib, with the run scripts of
# tools/device_runs beside them:
#
#   tools/device_bundle.sh                       # here (no GPU needed)
#   # on the device, with .device_bundle carried (logs to $OUT):
#   .device_bundle/parity_and_benchmarks.sh      # every parity test, every benchmark
#   .device_bundle/sanitize_parity.sh            # compute-sanitizer, listed tests
#   .device_bundle/sanitize_parity.sh all        # ... every test, both tools
#   .device_bundle/sass_loads.sh                 # load widths in the SASS
#   .device_bundle/peer_vs_hecate.sh             # Hecate vs the PyTorch trainer forward (issue 14.6)
#
# .device_bundle/ is git-ignored. cuBLAS is not bundled (the device has it).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

BUNDLE=.device_bundle
# DEVICE_BUNDLE_TARGETS: only these (e.g. //backends/cuda:cuda_backend_bench
# for peer_vs_hecate.sh alone, a bundle that fits beside another one).
targets=${DEVICE_BUNDLE_TARGETS:-}
[[ -n $targets ]] || targets=$(bazel query --noshow_progress \
  'kind("cc_test", //kernels/... + //backends/cuda/...) + attr(name, "_bench$", kind("cc_binary", //kernels/... + //backends/cuda/...))' 2>/dev/null)
echo "targets:"; echo "$targets" | sed 's/^/  /'
# shellcheck disable=SC2086
bazel build --noshow_progress $targets

rm -rf "$BUNDLE"
# shellcheck source=tools/bundle_lib.sh
source tools/bundle_lib.sh
# shellcheck disable=SC2086
bundle_binaries "$BUNDLE" $targets

# Scripted device runs whose results BENCHMARKS.md records.
cp tools/device_runs/*.sh "$BUNDLE/"
git rev-parse HEAD > "$BUNDLE/COMMIT"
git status --porcelain -- kernels tools >> "$BUNDLE/COMMIT" || true

du -sh "$BUNDLE"; ls "$BUNDLE/bin" "$BUNDLE/lib" | head -80
