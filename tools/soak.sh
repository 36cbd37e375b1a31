#!/usr/bin/env bash
# Soak benchmark (not a CI test): hecated on the CPU tiny model under 1000
# streaming sessions plus continuous generation for a while, sampling the
# daemon's resident memory, open file descriptors and threads; prints a
# table and flags growth. Issue 13 asks that RSS, fds and threads stay flat
# and that no call fails; results are recorded in RELIABILITY.md.
#
#   tools/soak.sh [MINUTES]          default 10
#
# Environment: SESSIONS (1000), GENERATORS (4 loops of `hecatectl generate`
# on temporary sessions), SAMPLE_SECONDS (5), CHUNK_BYTES (256), SOAK_OUT
# (soak-out/, ignored by git: hecated.log, bench.log, samples.tsv),
# GENERATE_TIMEOUT (120s: the deadline of each generate call; under 1000
# streams on two cores a 64-token call can wait tens of seconds).
# HECATED / HECATECTL: prebuilt binaries (default: bazel build them).
# BUDGET_MIB_PER_SESSION (4): the daemon's --device_memory_budget is
# SESSIONS times this, so every session stays in memory (1000 random:tiny
# sessions hold 2.4 GB of state, past the CPU default of 2 GiB; with less,
# idle sessions keep moving to disk and back and a 2-core machine answers
# chunks minutes late). 0 keeps the daemon's default (the soak then
# exercises offload as well).
# HECATED_FLAGS: more daemon flags (after the budget, so they win).
#
# Phases: warm-up (the first 20% of the run, not judged), steady state
# (judged: the mean of its last third against the mean of its first third),
# then 20 s after the load stops (every session deleted: threads and fds
# should return to where they were before the load).
# Growth is flagged when steady-state RSS grows by more than 10% (and 8 MiB),
# or fds or threads by more than 5. Exit status: 0 flat and no errors, 1
# growth or errors, 2 the run itself failed.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-10}
sessions=${SESSIONS:-1000}
generators=${GENERATORS:-4}
every=${SAMPLE_SECONDS:-5}
chunk=${CHUNK_BYTES:-256}
out=${SOAK_OUT:-soak-out}
budget_flags=()
mib_per_session=${BUDGET_MIB_PER_SESSION:-4}
((mib_per_session > 0)) &&
  budget_flags=(--device_memory_budget=$((sessions * mib_per_session * 1024 * 1024)))
mkdir -p "$out"
rm -rf "$out/state" "$out/ports"

if [[ -z "${HECATED:-}" || -z "${HECATECTL:-}" ]]; then
  bazel build //server:hecated //client:hecatectl >&2
  HECATED=${HECATED:-bazel-bin/server/hecated}
  HECATECTL=${HECATECTL:-bazel-bin/client/hecatectl}
fi

"$HECATED" --model=random:tiny --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 \
  --port_file="$out/ports" --state_dir="$out/state" --worker_threads=2 \
  --max_sessions=$((sessions + 100)) --max_sessions_per_user=$((sessions + 100)) \
  "${budget_flags[@]}" ${HECATED_FLAGS:-} >"$out/hecated.log" 2>&1 &
daemon=$!
pids_to_stop=("$daemon")
cleanup() {
  for p in "${pids_to_stop[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 300); do [[ -s "$out/ports" ]] && break; sleep 0.2; done
[[ -s "$out/ports" ]] || { echo "soak: hecated did not start; see $out/hecated.log" >&2; exit 2; }
ports=($(cat "$out/ports"))  # gRPC port, then HTTP port
grpc_port=${ports[0]}
http_port=${ports[1]}
target=127.0.0.1:$grpc_port

sample() {  # phase: one row of elapsed seconds, phase, RSS KiB, fds, threads, sessions
  local rss threads fds live
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status")
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$daemon/status")
  fds=$(ls "/proc/$daemon/fd" | wc -l)
  live=$(curl -s --max-time 5 "http://127.0.0.1:$http_port/metrics" |
    awk '/^hecate_sessions(\{| )/ {s += $NF} END {print s + 0}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$SECONDS" "$1" "$rss" "$fds" "$threads" "$live"
}

printf 'seconds\tphase\trss_kib\tfds\tthreads\tsessions\n' >"$out/samples.tsv"
SECONDS=0
sample idle >>"$out/samples.tsv"
# Threads by name (gRPC names its pools; hecated's own are "hecated" and
# "hecate-http"), before and after the load: growth should be pools started
# on demand, not a thread per session or stream.
thread_names() { cat /proc/"$daemon"/task/*/comm | sort | uniq -c | awk '{printf " %s=%s", $2, $1}'; }
threads_idle=$(thread_names)

duration=$((minutes * 60))
"$HECATECTL" --target="$target" bench --sessions="$sessions" --duration="${duration}s" \
  --chunk_bytes="$chunk" --seed=1 >"$out/bench.log" 2>&1 &
bench=$!
pids_to_stop+=("$bench")
gen_pids=()
for g in $(seq "$generators"); do
  (
    end=$((SECONDS + duration)); ok=0; failed=0
    while ((SECONDS < end)); do
      if "$HECATECTL" --target="$target" --timeout="${GENERATE_TIMEOUT:-120s}" generate --prompt="soak $g " --max_tokens=64 \
        --temperature=0.8 --seed="$g" >/dev/null 2>>"$out/generate-$g.err"; then
        ok=$((ok + 1))
      else
        failed=$((failed + 1))
      fi
    done
    echo "$ok $failed" >"$out/generate-$g.count"
  ) &
  gen_pids+=("$!")
  pids_to_stop+=("$!")
done

warmup=$((duration / 5))
while kill -0 "$bench" 2>/dev/null; do
  sleep "$every"
  phase=steady
  ((SECONDS < warmup)) && phase=warmup
  kill -0 "$bench" 2>/dev/null && sample "$phase" >>"$out/samples.tsv"
done
bench_status=0
wait "$bench" || bench_status=$?
for p in "${gen_pids[@]}"; do wait "$p" || true; done
for _ in $(seq $((20 / every))); do sleep "$every"; sample after >>"$out/samples.tsv"; done

threads_after=$(thread_names)
column -t "$out/samples.tsv"
echo
echo "threads by name, idle: $threads_idle"
echo "threads by name, after the load: $threads_after"
echo
echo "bench (hecatectl, $sessions sessions, ${minutes} min, exit $bench_status):"
sed 's/^/  /' "$out/bench.log"
gen_ok=0; gen_failed=0
for g in $(seq "$generators"); do
  read -r a b <"$out/generate-$g.count" || { a=0; b=1; }
  gen_ok=$((gen_ok + a)); gen_failed=$((gen_failed + b))
done
echo "generate: $gen_ok calls ok, $gen_failed failed ($generators loops of 64 tokens)"
[[ $gen_failed -gt 0 ]] && sort "$out"/generate-*.err | uniq -c | sort -rn | head -5

# Judge: steady-state first third vs last third; idle vs after.
awk -F'\t' -v bench="$bench_status" -v gfail="$gen_failed" '
  NR == 1 { next }
  $2 == "idle" { idle_fd = $4; idle_th = $5 }
  $2 == "steady" { n++; rss[n] = $3; fd[n] = $4; th[n] = $5 }
  $2 == "after" { after_fd = $4; after_th = $5; after_rss = $3 }
  END {
    if (n < 3) { print "soak: too few steady samples to judge"; exit 2 }
    k = int(n / 3)
    for (i = 1; i <= k; i++) { r0 += rss[i]; f0 += fd[i]; t0 += th[i] }
    for (i = n - k + 1; i <= n; i++) { r1 += rss[i]; f1 += fd[i]; t1 += th[i] }
    r0 /= k; r1 /= k; f0 /= k; f1 /= k; t0 /= k; t1 /= k
    printf "steady state (%d samples): RSS %.1f -> %.1f MiB (%+.1f%%), fds %.1f -> %.1f, threads %.1f -> %.1f\n",
      n, r0 / 1024, r1 / 1024, 100 * (r1 - r0) / r0, f0, f1, t0, t1
    printf "idle -> after the load: fds %d -> %d, threads %d -> %d, RSS after %.1f MiB\n",
      idle_fd, after_fd, idle_th, after_th, after_rss / 1024
    bad = 0
    if (r1 - r0 > 0.10 * r0 && r1 - r0 > 8192) { print "GROWTH: RSS"; bad = 1 }
    if (f1 - f0 > 5) { print "GROWTH: fds"; bad = 1 }
    if (t1 - t0 > 5) { print "GROWTH: threads"; bad = 1 }
    if (after_fd - idle_fd > 5) { print "GROWTH: fds not back to idle"; bad = 1 }
    if (after_th - idle_th > 5) { print "GROWTH: threads not back to idle"; bad = 1 }
    if (bench != 0 || gfail > 0) { print "ERRORS: bench exit " bench ", " gfail " generate calls failed"; bad = 1 }
    if (!bad) print "FLAT: no growth, no errors"
    exit bad
  }' "$out/samples.tsv"
