#!/usr/bin/env bash
# Where hecated's host CPU goes while it serves decode (issue 12): runs
# serving_vs_engine.sh once per session count with gperftools' CPU profiler
# preloaded into hecated (SIGPROF sampling: works where perf_event_open is
# not allowed, as in the device machine's container), one profile per case
# in $OUT/hecated_decode_N.prof.
#
#   tools/device_e2e_bundle.sh here (bundles lib/libprofiler.so.0 when
#   google-perftools is installed here), then on the GPU machine:
#   SESSIONS="64 256" bash .device_e2e/serving_profile.sh
#   here: google-pprof --text --lines bazel-bin/server/hecated OUT/hecated_decode_256.prof
#   (the same build's unstripped hecated: the bundle's is stripped).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/out}
mkdir -p "$OUT"
profiler=$HERE/lib/libprofiler.so.0
[[ -e $profiler ]] || { echo "no $profiler: install google-perftools and rebundle"; exit 1; }
for n in ${SESSIONS:-64 256}; do
  HECATED_WRAPPER="env LD_PRELOAD=$profiler CPUPROFILE=$OUT/hecated_decode_$n.prof \
CPUPROFILE_FREQUENCY=${CPUPROFILE_FREQUENCY:-500}" \
    DECODE_SESSIONS="$n" PREFILL_REQUESTS=2 DURATION=${DURATION:-10s} ENGINE_SECONDS=2 \
    OUT=$OUT/profile_$n bash "$HERE/serving_vs_engine.sh" > "$OUT/profile_$n.log" 2>&1
  echo "decode $n sessions: rc=$? $(grep -A2 '^case' "$OUT/profile_$n.log" | tail -2 | head -1)"
done
ls -la "$OUT"/*.prof
