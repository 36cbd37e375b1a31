#!/usr/bin/env bash
# Issue 12 item 5 on the CPU, here: builds hecated, hecatectl and the engine
# bench, then runs tools/device_runs/serving_vs_engine.sh --cpu (random:tiny,
# decode at 64 sessions in 5 rounds interleaved with the engine bench, whose
# median the row shows; prefill of 256-byte chunks) and prints its table:
# served tokens/s beside CPU ForwardBatch tokens/s (~3 minutes). Same
# environment as that script (ROUNDS, DECODE_SESSIONS, MAX_TOKENS, DURATION,
# HECATED_FLAGS, OUT, ...).
#   tools/serving_vs_engine_cpu.sh      # logs and JSON in $OUT (default /tmp/hecate-serving-out)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
bazel build --noshow_progress //server:hecated //client:hecatectl //backends/cuda:engine_step_bench
export OUT=${OUT:-${TMPDIR:-/tmp}/hecate-serving-out}
exec tools/device_runs/serving_vs_engine.sh --cpu
