#!/usr/bin/env bash
# Issue 12 item 5: served tokens/s beside the engine's own, same backend,
# same model, same run. The engine is //backends/cuda:engine_step_bench
# (one ForwardBatch per step with hecated's backend options); serving is
# hecated with `hecatectl bench` over loopback gRPC:
#   decode at N sessions:  bench --mode=generate --sessions=N --chunk_bytes=1
#                          (1-byte prompt, then MAX_TOKENS greedy tokens a call)
#   prefill T bytes on K sessions: bench --sessions=K --chunk_bytes=T
#                          --requests_per_session=PREFILL_REQUESTS
# and prints: case | engine tokens/s | served tokens/s | served/engine, and
# the inter-token latency (decode; whole chunk for prefill) beside the
# engine's step time; then, from hecated's /metrics scraped around each case,
# what its engine loop did (steps, mean step time, decode and prefill tokens
# per step, queue wait). JSON of every run, hecated's log and the scrapes
# land in $OUT.
#
# On the GPU machine, from the e2e bundle (tools/device_e2e_bundle.sh):
#   bash .device_e2e/serving_vs_engine.sh 2>&1 | tee $OUT/serving.log
# Here, on the CPU (tiny model, 64 sessions): tools/serving_vs_engine_cpu.sh,
# which builds and calls this with --cpu.
#
# Environment (defaults: GPU / --cpu):
#   MODEL            random:base / random:tiny
#   DECODE_SESSIONS  "64 256 1024" / "64"
#   MAX_TOKENS       256           tokens per Generate call
#   SPREAD_PULSES    512           bench --spread_pulses: session i starts at pulse
#                    37 i mod 512 (engine_step_bench's sessions are at 1000 + 37 i),
#                    so neither side has every session's slow-level fires in
#                    one step; 0: the served sessions decode in lockstep
#   PREFILL_BYTES    2048 / 256    T; PREFILL_SESSIONS K (1); PREFILL_REQUESTS (16 / 8)
#   DURATION         20s / 10s     served decode run per case (per round)
#   ENGINE_SECONDS   3 / 4         engine timing per case
#   ROUNDS           1 / 5         served decode runs per case, each between two
#                    engine_step_bench runs of that batch alone (engine, served,
#                    engine, served, ..., engine): a round's ratio is its served
#                    tokens/s over the mean of the engine runs either side, and
#                    the table gives the medians. On a shared VM whose speed
#                    drifts over minutes (this 2-core one: the engine alone
#                    2343-2685 tokens/s within half an hour) one served run
#                    against the faster of two engine runs minutes away
#                    measured the drift more than the serving.
#   WARMUP           5s / 0       an unmeasured run of each case first (0: none),
#                    as the engine bench warms up: first-use costs (a CUDA graph
#                    captured per batch bucket, spare states allocated) are
#                    excluded from both sides
#   HECATED_FLAGS    extra hecated flags (e.g. --gemm=tf32; the budget flags)
#   CLIENT_WRAPPER   a command the bench client runs under (e.g. "nice -n 19":
#                    on the 2-core VM the client shares the server's cores)
#   HECATED_WRAPPER  a command hecated runs under (serving_profile.sh: env with
#                    gperftools' CPU profiler preloaded)
# Memory: random:base is 119.5 MB of state a session, so 1024 sessions are
# 122 GB on the device (the default --device_memory_budget, free memory less
# max(5%, 1 GiB), holds them on an H200; hecated's startup line, copied below,
# says how many fit). Rewind snapshots are host copies taken every 4096
# pulses, which a 20 s case does not reach at 1024 sessions; a longer DURATION
# may want HECATED_FLAGS=--max_snapshot_bytes_per_session=0.
#   HECATED, HECATECTL, ENGINE_BENCH   binaries (default: the bundle's, else bazel-bin)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cpu=0
[[ ${1:-} == --cpu ]] && cpu=1
if [[ -d $HERE/runfiles/hecate ]]; then  # the e2e bundle
  bin=$HERE/runfiles/hecate
  export LD_LIBRARY_PATH="$HERE/lib:${LD_LIBRARY_PATH:-}"
else
  bin=$(cd "$HERE/../.." && pwd)/bazel-bin
fi
HECATED=${HECATED:-$bin/server/hecated}
HECATECTL=${HECATECTL:-$bin/client/hecatectl}
ENGINE_BENCH=${ENGINE_BENCH:-$bin/backends/cuda/engine_step_bench}
OUT=${OUT:-$HERE/out}; mkdir -p "$OUT"
PY=${PYTHON:-python3}
if (( cpu )); then
  backend=cpu; MODEL=${MODEL:-random:tiny}; DECODE_SESSIONS=${DECODE_SESSIONS:-64}
  MAX_TOKENS=${MAX_TOKENS:-256}; PREFILL_BYTES=${PREFILL_BYTES:-256}
  PREFILL_REQUESTS=${PREFILL_REQUESTS:-8}; DURATION=${DURATION:-10s}
else
  backend=cuda; MODEL=${MODEL:-random:base}; DECODE_SESSIONS=${DECODE_SESSIONS:-64 256 1024}
  MAX_TOKENS=${MAX_TOKENS:-256}; PREFILL_BYTES=${PREFILL_BYTES:-2048}
  PREFILL_REQUESTS=${PREFILL_REQUESTS:-16}; DURATION=${DURATION:-20s}
fi
PREFILL_SESSIONS=${PREFILL_SESSIONS:-1}
if (( cpu )); then WARMUP=${WARMUP:-0}; else WARMUP=${WARMUP:-5s}; fi
if (( cpu )); then ROUNDS=${ROUNDS:-5}; else ROUNDS=${ROUNDS:-1}; fi
if (( cpu )); then ENGINE_SECONDS=${ENGINE_SECONDS:-4}; else ENGINE_SECONDS=${ENGINE_SECONDS:-3}; fi
for b in "$HECATED" "$HECATECTL" "$ENGINE_BENCH"; do
  [[ -x $b ]] || { echo "serving_vs_engine: missing $b"; exit 1; }
done
{ if (( cpu )); then
    echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
  else
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  fi
  echo "commit $(head -1 "$HERE/COMMIT" 2>/dev/null || git -C "$HERE" rev-parse --short HEAD 2>/dev/null)"
  date -u
} 2>&1 | tee "$OUT/serving_device.txt"

echo "===== engine: engine_step_bench --backend=$backend --model=$MODEL"
decode_list=$(echo "$DECODE_SESSIONS" | tr ' ' ',')
# With rounds the decode cases' engine runs are the rounds' own (below).
(( ROUNDS > 1 )) && decode_list=
"$ENGINE_BENCH" --backend="$backend" --model="$MODEL" --decode="$decode_list" \
  --prefill="$PREFILL_BYTES" --prefill_batch="$PREFILL_SESSIONS" \
  --min_seconds="$ENGINE_SECONDS" --json | tee "$OUT/engine.jsonl"
echo "engine_step_bench rc=${PIPESTATUS[0]}"

max_n=$PREFILL_SESSIONS
for n in $DECODE_SESSIONS; do (( n > max_n )) && max_n=$n; done
tmp=$(mktemp -d); pid=
trap 'kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
# Room for every bench session (one user: anonymous) on the device.
# shellcheck disable=SC2086
${HECATED_WRAPPER:-} "$HECATED" --backend="$backend" --model="$MODEL" --listen=127.0.0.1:0 \
  --metrics_listen=127.0.0.1:0 --state_dir="$tmp/state" --port_file="$tmp/ports" \
  --max_sessions=$((max_n + 16)) --max_sessions_per_user=$((max_n + 16)) \
  ${HECATED_FLAGS:-} 2>"$OUT/serving_hecated.log" &
pid=$!
for _ in $(seq 1 1200); do [[ -s $tmp/ports && $(wc -l < "$tmp/ports") -ge 2 ]] && break; sleep 0.1; done
[[ -s $tmp/ports ]] || { echo "hecated did not start:"; tail -20 "$OUT/serving_hecated.log"; exit 1; }
target=127.0.0.1:$(sed -n 1p "$tmp/ports")
http=127.0.0.1:$(sed -n 2p "$tmp/ports")
grep -m2 -E "memory budget|hecated serving" "$OUT/serving_hecated.log" | sed 's/^.*\] //'
# shellcheck disable=SC2086
ctl() { ${CLIENT_WRAPPER:-} "$HECATECTL" --target="$target" --timeout=10m --json bench "$@"; }
# /metrics to $OUT/$1: scraped around each case, so the table can say what
# the engine loop did during it (steps, their duration, tokens per step).
scrape() {
  "$PY" -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://$http/metrics').read().decode())" \
    > "$OUT/$1" 2>&1
}

# With ROUNDS > 1: engine_step_bench at batch $1 alone, as round $2's
# neighbour, to engine_rounds.jsonl.
engine_round() {
  "$ENGINE_BENCH" --backend="$backend" --model="$MODEL" --decode="$1" \
    --min_seconds="$ENGINE_SECONDS" --json | grep '^{' | sed "s/^{/{\"round\":$2,/" |
    tee -a "$OUT/engine_rounds.jsonl"
}
: > "$OUT/engine_rounds.jsonl"
for n in $DECODE_SESSIONS; do
  echo "===== served decode: $n sessions, generate 1-byte prompt + $MAX_TOKENS tokens, $DURATION, $ROUNDS round(s)"
  if [[ $WARMUP != 0 ]]; then
    ctl --mode=generate --sessions="$n" --chunk_bytes=1 --max_tokens="$MAX_TOKENS" --spread_pulses="${SPREAD_PULSES:-512}" \
      --duration="$WARMUP" > "$OUT/warmup_decode_$n.json"
  fi
  for ((r = 1; r <= ROUNDS; r++)); do
    (( ROUNDS > 1 )) && engine_round "$n" "$r"
    # The engine loop's statistics cover the timed run alone (the last
    # round's): bench writes $tmp/ready once its sessions are made and
    # spread, and starts timing when the file is gone.
    served="$OUT/served_decode_$n.json"
    (( ROUNDS > 1 )) && served="$OUT/served_decode_${n}_r$r.json"
    rm -f "$tmp/ready"
    ctl --mode=generate --sessions="$n" --chunk_bytes=1 --max_tokens="$MAX_TOKENS" --spread_pulses="${SPREAD_PULSES:-512}" \
      --ready_file="$tmp/ready" --duration="$DURATION" > "$served" &
    bench=$!
    while [[ ! -e $tmp/ready ]] && kill -0 "$bench" 2>/dev/null; do sleep 0.02; done
    scrape "metrics_decode_$n.before"
    rm -f "$tmp/ready"
    wait "$bench"; rc=$?
    scrape "metrics_decode_$n.after"
    echo "rc=$rc $(head -c 300 "$served")"
  done
  (( ROUNDS > 1 )) && engine_round "$n" "$((ROUNDS + 1))"
done
echo "===== served prefill: $PREFILL_SESSIONS sessions x $PREFILL_REQUESTS chunks of $PREFILL_BYTES bytes"
if [[ $WARMUP != 0 ]]; then
  ctl --sessions="$PREFILL_SESSIONS" --chunk_bytes="$PREFILL_BYTES" --requests_per_session=2 \
    > "$OUT/warmup_prefill.json"
fi
scrape metrics_prefill.before
ctl --sessions="$PREFILL_SESSIONS" --chunk_bytes="$PREFILL_BYTES" \
  --requests_per_session="$PREFILL_REQUESTS" > "$OUT/served_prefill.json"
scrape metrics_prefill.after
echo "rc=$? $(head -c 300 "$OUT/served_prefill.json")"
scrape serving_metrics.txt
kill "$pid"; wait "$pid" 2>/dev/null
# Again after serving: the table keeps each case's faster run, so a machine
# busy with something else during one of them (shared CPUs) shows less.
echo "===== engine again"
"$ENGINE_BENCH" --backend="$backend" --model="$MODEL" --decode="$decode_list" \
  --prefill="$PREFILL_BYTES" --prefill_batch="$PREFILL_SESSIONS" \
  --min_seconds="$ENGINE_SECONDS" --json | tee -a "$OUT/engine.jsonl"

echo "===== served vs engine ($backend, $MODEL)"
"$PY" - "$OUT" "$DECODE_SESSIONS" "$PREFILL_BYTES" "$PREFILL_SESSIONS" "$ROUNDS" <<'PY' | tee "$OUT/serving_vs_engine.txt"
import json, statistics, sys
out, decode, prefill_t, prefill_k = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), int(sys.argv[4])
rounds = int(sys.argv[5])
engine = {}
for line in open(f"{out}/engine.jsonl"):
    if line.startswith("{"):
        r = json.loads(line)
        key = (r["case"], r["batch"], r["tokens"])
        if key not in engine or r["tokens_per_second"] > engine[key]["tokens_per_second"]:
            engine[key] = r  # the faster of the two runs
def load(name):
    try:
        return json.load(open(f"{out}/{name}"))
    except (OSError, ValueError):
        return None
# ROUNDS > 1: per decode batch, round r's served run against the mean of
# the engine runs r and r + 1 either side of it; the row takes the medians.
round_lines = []
if rounds > 1:
    by_round = {}
    for line in open(f"{out}/engine_rounds.jsonl"):
        r = json.loads(line)
        by_round[(r["batch"], r["round"])] = r
    for n in decode:
        n = int(n)
        ratios, served, engines, steps = [], [], [], []
        for i in range(1, rounds + 1):
            s, a, b = load(f"served_decode_{n}_r{i}.json"), by_round.get((n, i)), by_round.get((n, i + 1))
            if not (s and a and b):
                continue
            e = (a["tokens_per_second"] + b["tokens_per_second"]) / 2
            served.append(s)
            engines.append(e)
            steps.append((a["step_ms_p50"] + b["step_ms_p50"]) / 2)
            ratios.append(s["generated_tokens_per_second"] / e)
        if not ratios:
            continue
        median = statistics.median(ratios)
        # The row shows the round whose ratio is the median (the middle one).
        mid = sorted(range(len(ratios)), key=lambda j: ratios[j])[(len(ratios) - 1) // 2]
        json.dump(served[mid], open(f"{out}/served_decode_{n}.json", "w"))
        engine[("decode", n, 1)] = {"tokens_per_second": engines[mid], "step_ms_p50": steps[mid]}
        round_lines.append(f"decode B={n}: round ratios " +
                           ", ".join(f"{x:.3f}" for x in ratios) + f"; median {median:.3f}")
f = lambda v, fmt: "-" if v is None else format(v, fmt)
print(f"{'case':<22} {'engine tok/s':>12} {'served tok/s':>12} {'ratio':>6} "
      f"{'step p50 ms':>11} {'served p50 ms':>13} {'served p99 ms':>13} {'p99/step':>8} {'errors':>6}")
rows = [(f"decode B={n}", ("decode", int(n), 1), f"served_decode_{n}.json", f"decode_{n}")
        for n in decode]
rows.append((f"prefill T={prefill_t} B={prefill_k}", ("prefill", prefill_k, prefill_t),
             "served_prefill.json", "prefill"))
def samples(name):
    values = {}
    try:
        for line in open(f"{out}/metrics_{name}"):
            if line.startswith("hecate_") and " " in line:
                key, value = line.rsplit(" ", 1)
                values[key] = float(value)
    except (OSError, ValueError):
        pass
    return values
def loop_stats(case):
    """What hecated's engine loop did during one case: steps, mean step ms,
    mean decode and prefill tokens per step that had them, mean queue wait."""
    a, b = samples(f"{case}.before"), samples(f"{case}.after")
    d = lambda k: b.get(k, 0) - a.get(k, 0)
    steps = d("hecate_step_duration_seconds_count")
    if steps <= 0:
        return None
    def mean(family, labels=""):
        count = d(f"{family}_count{labels}")
        return d(f"{family}_sum{labels}") / count if count > 0 else 0
    snap = lambda part: sum(d(f'hecate_snapshot_duration_seconds_{part}{{how="{h}"}}')
                            for h in ("spare", "download"))
    snaps, snap_ms = snap("count"), 1e3 * snap("sum")
    return (steps, 1e3 * d("hecate_step_duration_seconds_sum") / steps,
            mean("hecate_step_tokens", '{kind="decode"}'),
            mean("hecate_step_tokens", '{kind="prefill"}'),
            1e3 * mean("hecate_queue_wait_seconds"),
            1e3 * mean("hecate_step_host_seconds"),
            f"{snaps:.0f}/{d('hecate_snapshots_deferred_total'):.0f}/{snap_ms:.1f}")
loop_rows = []
for label, key, name, case in rows:
    e, s = engine.get(key), load(name)
    etps = e["tokens_per_second"] if e else None
    step = e["step_ms_p50"] if e else None
    stps = p50 = p99 = errors = None
    if s:
        decode_case = key[0] == "decode"
        stps = s["generated_tokens_per_second"] if decode_case else s["tokens_per_second"]
        lat = s["inter_token_seconds"] if decode_case else s["latency_seconds"]
        p50, p99 = lat["p50"] * 1e3, lat["p99"] * 1e3
        errors = sum(s["errors"].values())
    ratio = stps / etps if stps and etps else None
    over = p99 / step if p99 and step else None
    print(f"{label:<22} {f(etps, '.0f'):>12} {f(stps, '.0f'):>12} {f(ratio, '.2f'):>6} "
          f"{f(step, '.3f'):>11} {f(p50, '.3f'):>13} {f(p99, '.3f'):>13} {f(over, '.1f'):>8} "
          f"{f(errors, 'd'):>6}")
    loop_rows.append((label, loop_stats(case)))
print()
print("hecated's engine loop during each case (hecate_step_*, hecate_queue_wait_seconds; rewind"
      " snapshots taken / put off / ms the engine thread spent taking them):")
print(f"{'case':<22} {'steps':>7} {'step ms':>8} {'decode tok/step':>15} {'prefill tok/step':>16}"
      f" {'queue wait ms':>13} {'host ms/step':>12} {'snapshots/deferred/ms':>21}")
for label, stats in loop_rows:
    if stats is None:
        print(f"{label:<22} {'-':>7}")
        continue
    steps, step_ms, dec, pre, wait, host, snaps = stats
    print(f"{label:<22} {steps:>7.0f} {step_ms:>8.3f} {dec:>15.1f} {pre:>16.1f} {wait:>13.3f}"
          f" {host:>12.3f} {snaps:>21}")
for line in round_lines:
    print(line)
print("engine: the faster of two engine_step_bench runs (before and after serving), or with"
      " rounds the mean of the runs either side of the round shown (the median one);"
      " served p50/p99: decode = inter-token latency (Generate), prefill = whole chunk;"
      " ratio = served / engine tokens/s; p99/step = served p99 / engine step p50")
PY
