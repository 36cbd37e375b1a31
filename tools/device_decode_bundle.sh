#!/usr/bin/env bash
# device_decode_bundle.sh: the bundle for tools/device_runs/decode_fusion.sh
# (issue 14 item 1), small enough to travel beside the repository: the six
# binaries that run needs, linked against shared libraries
# (--dynamic_mode=fully; the statically linked benchmarks are 13 MB each),
# every library they load that the device lacks, and the run scripts, in the
# git-ignored .device_decode/:
#
#   tools/device_decode_bundle.sh                          # here (no GPU needed)
#   DEADLINE_S=390 bash .device_decode/decode_fusion.sh    # on the device, carried
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

BUNDLE=.device_decode
targets="//kernels/gemv_decode:gemv_decode_test //kernels/gemv_decode:gemv_prep_test
//backends/cuda:cuda_backend_test //kernels/gemv_decode:gemv_decode_bench
//backends/cuda:cuda_backend_bench //backends/cuda:engine_step_bench"
# shellcheck disable=SC2086
bazel build --noshow_progress --dynamic_mode=fully $targets
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
cp tools/device_runs/run_lib.sh tools/device_runs/decode_fusion.sh "$BUNDLE/"
git rev-parse HEAD > "$BUNDLE/COMMIT"
git status --porcelain -- kernels backends/cuda tools >> "$BUNDLE/COMMIT" || true
du -sh "$BUNDLE"
