#!/usr/bin/env bash
# A real Prometheus server (Debian's package) scrapes a real hecated after
# some traffic: the exposition must parse and hold the chunk-latency summary.
# Skips (and says so) when prometheus is not installed.
set -euo pipefail
if [[ ! -x /usr/bin/prometheus ]]; then
  echo "SKIPPED: prometheus not installed"
  exit 0
fi
hecated="$1"
check="$2"
# The generated hecate/__init__.py; its parent's parent is the import root.
python_client_dir="$(dirname "$(dirname "$3")")"
tmp="${TEST_TMPDIR:-$(mktemp -d)}"
"$hecated" --model=random:tiny --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --state_dir="$tmp/state" \
  --port_file="$tmp/ports" 2>"$tmp/hecated.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [[ -s "$tmp/ports" ]] && break
  kill -0 "$pid" || { echo "FAIL: hecated exited"; cat "$tmp/hecated.log"; exit 1; }
  sleep 0.1
done
{ read -r grpc_port; read -r http_port; } <"$tmp/ports"
# Some traffic so that every histogram and the summary have samples.
PYTHONPATH="$python_client_dir" /usr/bin/python3 - "$grpc_port" <<'PY'
import sys
import grpc
from hecate.v1 import hecate_pb2 as pb, hecate_pb2_grpc as rpc
stub = rpc.HecateStub(grpc.insecure_channel(f"127.0.0.1:{sys.argv[1]}"))
sid = stub.CreateSession(pb.CreateSessionRequest()).id
reqs = [pb.StreamRequest(request_id=str(i), session_id=sid, input=b"To be, or not to be",
                         output=pb.OutputSpec(sample=pb.SamplingParams(max_tokens=3, seed=i)))
        for i in range(3)]
assert sum(1 for r in stub.Stream(iter(reqs)) if r.HasField("done")) == 3
PY
"$check" "127.0.0.1:${http_port}" hecate_chunk_latency_seconds_count 60
"$check" "127.0.0.1:${http_port}" hecate_time_to_first_token_seconds_bucket 60
kill "$pid"
wait "$pid"  # SIGTERM drains: exit 0
trap - EXIT
echo "PASS"
