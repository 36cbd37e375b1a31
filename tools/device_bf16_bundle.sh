#!/usr/bin/env bash
# device_bf16_bundle.sh: the bundle for tools/device_runs/decode_bf16.sh
# (issue 14 item 4: the bf16-weight decode GEMVs, the widening kernel, and
# the backend's bf16-weights mode end to end), built like
# tools/device_decode_bundle.sh's (binaries against shared libraries, the
# libraries the device lacks, the run scripts), in the git-ignored
# .device_bf16/:
#
#   tools/device_bf16_bundle.sh                          # here (no GPU needed)
#   DEADLINE_S=390 bash .device_bf16/decode_bf16.sh      # on the device, carried
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

# shellcheck source=tools/bundle_lib.sh
source tools/bundle_lib.sh
make_run_bundle .device_bf16 decode_bf16.sh \
  //kernels/gemv_decode:bf16_weights_test //kernels/gemv_decode:gemv_decode_test \
  //kernels/gemv_decode:gemv_prep_test //kernels/gemv_decode:gemv_decode_bench \
  //kernels/bf16_dequant:bf16_dequant_test //backends/cuda:weight_format_test \
  //backends/cuda:cuda_backend_test //backends/cuda:cuda_backend_bench \
  //backends/cuda:engine_step_bench
