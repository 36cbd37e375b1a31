#!/usr/bin/env bash
# device_ring_bundle.sh: the bundle for tools/device_runs/decode_ring.sh
# (issue 14 item 2, the slow levels' error buffers as rings in decode):
# the tests and benchmarks that run needs, linked against shared libraries
# (--dynamic_mode=fully), the libraries the device lacks and the run
# scripts, in the git-ignored .device_ring/:
#
#   tools/device_ring_bundle.sh                         # here (no GPU needed)
#   DEADLINE_S=400 bash .device_ring/decode_ring.sh     # on the device, carried
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

# shellcheck source=tools/bundle_lib.sh
source tools/bundle_lib.sh
make_run_bundle .device_ring decode_ring.sh \
  //backends/cuda:decode_ring_test //backends/cuda:cuda_backend_test \
  //kernels/cms_slow:cms_slow_test //kernels/cms_slow:cms_ring_test \
  //backends/cuda:cuda_backend_bench //backends/cuda:engine_step_bench
