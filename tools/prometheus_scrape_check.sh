#!/usr/bin/env bash
# Checks that a real Prometheus server can scrape a hecated metrics endpoint.
#
#   tools/prometheus_scrape_check.sh HOST:PORT [METRIC] [TIMEOUT_SECONDS]
#
# Starts Prometheus (Debian's /usr/bin/prometheus, or $PROMETHEUS) on a free
# loopback port with a generated config that scrapes http://HOST:PORT/metrics
# every second, waits until its HTTP API reports up{job="hecate"} == 1 and the
# series METRIC (default hecate_build_info) has been ingested, prints how many
# hecate_* series it holds, then stops Prometheus and removes its files.
# Exit 0 on success; 1 with Prometheus's view of the target (lastError) and
# its log otherwise; 2 on bad usage or missing tools.
set -euo pipefail

usage() { echo "usage: $0 HOST:PORT [METRIC] [TIMEOUT_SECONDS]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 3 ]] || usage
target="$1"
metric="${2:-hecate_build_info}"
timeout_s="${3:-60}"
[[ "$target" == *:* ]] || usage
[[ "$timeout_s" =~ ^[0-9]+$ ]] || usage
[[ "$metric" =~ ^[a-zA-Z_:][a-zA-Z0-9_:]*$ ]] || { echo "bad metric name: $metric" >&2; exit 2; }

prometheus="${PROMETHEUS:-/usr/bin/prometheus}"
python="/usr/bin/python3"
for tool in "$prometheus" "$python" curl; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/prometheus_scrape_check.XXXXXX")"
prom_pid=""
cleanup() {
  if [[ -n "$prom_pid" ]] && kill -0 "$prom_pid" 2>/dev/null; then
    kill "$prom_pid" 2>/dev/null || true
    wait "$prom_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port for Prometheus's own web server.
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
api="http://127.0.0.1:${port}"

cat > "$work/prometheus.yml" <<CONFIG
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: hecate
    metrics_path: /metrics
    static_configs:
      - targets: ['${target}']
CONFIG

"$prometheus" --config.file="$work/prometheus.yml" \
  --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:${port}" \
  --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!

# Prints the first sample value of an instant query, or nothing.
query_value() {
  curl -fsS --max-time 2 -G "${api}/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    "$python" -c '
import json, sys
try:
    result = json.load(sys.stdin)["data"]["result"]
    print(result[0]["value"][1] if result else "")
except Exception:
    print("")'
}

fail() {
  echo "FAIL: $1" >&2
  echo "--- Prometheus's view of the target:" >&2
  curl -fsS --max-time 2 "${api}/api/v1/targets" 2>/dev/null |
    "$python" -c '
import json, sys
try:
    for t in json.load(sys.stdin)["data"]["activeTargets"]:
        print(t["scrapeUrl"], "health:", t["health"], "lastError:", t["lastError"] or "-")
except Exception as e:
    print("(no target information:", e, ")")' >&2 || true
  echo "--- Prometheus log (tail):" >&2
  tail -n 20 "$work/prometheus.log" >&2 || true
  exit 1
}

deadline=$((SECONDS + timeout_s))
until curl -fsS --max-time 1 "${api}/-/ready" >/dev/null 2>&1; do
  kill -0 "$prom_pid" 2>/dev/null || fail "Prometheus exited at start"
  (( SECONDS < deadline )) || fail "Prometheus not ready within ${timeout_s}s"
  sleep 0.2
done

up=""
until [[ "$up" == "1" ]]; do
  (( SECONDS < deadline )) || fail "up{job=\"hecate\"} is '${up:-absent}', not 1, after ${timeout_s}s"
  sleep 0.5
  up="$(query_value 'up{job="hecate"}')"
done

value=""
until [[ -n "$value" ]]; do
  (( SECONDS < deadline )) || fail "${metric} was not ingested within ${timeout_s}s"
  value="$(query_value "${metric}{job=\"hecate\"}")"
  [[ -n "$value" ]] || sleep 0.5
done
series="$(query_value 'count({__name__=~"hecate_.+",job="hecate"})')"

echo "OK: Prometheus scraped ${target}: up=1, ${metric}=${value}, ${series:-0} hecate_* series ingested"
