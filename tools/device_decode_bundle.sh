#!/usr/bin/env bash
# device_decode_bundle.sh: the bundle for tools/device_runs/decode_fusion.sh
# and the other decode run scripts (issue 14 item 1), small enough to travel
# beside the repository: the binaries those runs need (listed below), linked
# against shared libraries
# (--dynamic_mode=fully; the statically linked benchmarks are 13 MB each),
# every library they load that the device lacks, and the run scripts, in the
# git-ignored .device_decode/:
#
#   tools/device_decode_bundle.sh                          # here (no GPU needed)
#   DEADLINE_S=390 bash .device_decode/decode_fusion.sh    # on the device, carried
#   RUN_SCRIPT=gemv_splits.sh tools/device_decode_bundle.sh  # another run script
#
# With the repository the folder (~40 MB) can pass the device tool's 64 MiB
# carry limit, so the script also writes .device_decode_pack/ (the folder
# as tar.xz, ~5 MB, and run.sh): carry .device_decode_pack and call
# `bash .device_decode_pack/run.sh` (DEADLINE_S and the rest pass through).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

# shellcheck source=tools/bundle_lib.sh
source tools/bundle_lib.sh
make_run_bundle .device_decode "${RUN_SCRIPT:-decode_fusion.sh}" \
  //kernels/gemv_decode:gemv_decode_test //kernels/gemv_decode:gemv_prep_test \
  //backends/cuda:cuda_backend_test //kernels/gemv_decode:gemv_decode_bench \
  //backends/cuda:cuda_backend_bench //backends/cuda:engine_step_bench \
  //kernels/gemv_decode:stage_stream_bench //kernels/swa_decode:swa_decode_test
# gemv_splits.sh can end with the peer (PEER=1), which reads train/ and
# tools/peer_bench.py from the repository beside the bundle.
cp tools/device_runs/peer_vs_hecate.sh .device_decode/
drop_device_provided_libs .device_decode/lib
pack_bundle .device_decode "${RUN_SCRIPT:-decode_fusion.sh}"
