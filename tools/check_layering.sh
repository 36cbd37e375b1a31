#!/usr/bin/env bash
# check_layering.sh: proves that the layering in //:BUILD.bazel is enforced.
#
# For each backwards edge below it writes a throw-away package inside the
# consumer's folder with one cc_library depending on the forbidden target,
# and requires Bazel's analysis to refuse it as "not visible". Allowed edges
# are probed the same way and must pass, so a probe that fails for another
# reason (a renamed target, a typo) cannot pass as a refusal. Analysis only
# (--nobuild): a few seconds. Run by `./hecate test`; exits non-zero on any
# unexpected result.
set -euo pipefail
cd "$(dirname "$0")/.."

PROBE=layering_probe_tmp

# consumer package | target it must NOT reach
FORBIDDEN=(
  "runtime|//sessions:session"
  "runtime|//backends/cpu:cpu_backend"
  "runtime|//kernels:cuda_check"
  "kernels/fused|//backends/cuda:cuda_backend"
  "kernels/fused|//sessions:session"
  "backends/cpu|//sessions:session"
  "backends/cuda|//server:hecate_server"
  "sessions|//server:hecate_server"
  "sessions|//kernels:device"
  "sessions|//backends/cuda:cuda_backend"
  "server|//kernels:device"
  "server|//client:hecate_client"
  "client|//sessions:session"
  "client|//server:hecate_server"
)
# consumer package | target it may reach (controls)
ALLOWED=(
  "server|//sessions:session_store"
  "server|//backends/cuda:cuda_backend"
  "sessions|//runtime:model"
  "backends/cuda|//kernels:device"
  "backends/cpu|//runtime:backend"
  "client|//proto:hecate_cc_grpc"
)

dirs=()
cleanup() { for d in "${dirs[@]}"; do rm -rf "$d"; done; }
trap cleanup EXIT

targets=()
add_probe() {
  local pkg=$1 dep=$2 name=$3
  local dir="$pkg/$PROBE"
  if [[ ! -d $dir ]]; then
    mkdir -p "$dir"; dirs+=("$dir"); : > "$dir/BUILD.bazel"
  fi
  printf 'cc_library(name = "%s", deps = ["%s"])\n' "$name" "$dep" >> "$dir/BUILD.bazel"
  targets+=("//$dir:$name")
}
i=0
for edge in "${FORBIDDEN[@]}"; do add_probe "${edge%%|*}" "${edge#*|}" "forbidden_$((i++))"; done
i=0
for edge in "${ALLOWED[@]}"; do add_probe "${edge%%|*}" "${edge#*|}" "allowed_$((i++))"; done

log=$(mktemp)
bazel build --nobuild -k --noshow_progress "${targets[@]}" >"$log" 2>&1 || true

bad=0
check() {
  local kind=$1 pkg=$2 dep=$3 name=$4
  local refused=0
  grep -q "rule //$pkg/$PROBE:$name: target '$dep' is not visible" "$log" && refused=1
  local other
  other=$(grep "ERROR" "$log" | grep -F "//$pkg/$PROBE:$name" | grep -v "is not visible\|Analysis of target" || true)
  if [[ -n $other ]]; then
    echo "layering: probe $pkg -> $dep failed for another reason: $other"; bad=1
  elif [[ $kind == forbidden && $refused == 0 ]]; then
    echo "layering: BACKWARDS dependency allowed: $pkg -> $dep"; bad=1
  elif [[ $kind == allowed && $refused == 1 ]]; then
    echo "layering: allowed dependency refused: $pkg -> $dep"; bad=1
  else
    printf 'layering: %-9s %-14s -> %s\n' "$([[ $kind == forbidden ]] && echo refused || echo allowed)" "$pkg" "$dep"
  fi
}
i=0
for edge in "${FORBIDDEN[@]}"; do check forbidden "${edge%%|*}" "${edge#*|}" "forbidden_$((i++))"; done
i=0
for edge in "${ALLOWED[@]}"; do check allowed "${edge%%|*}" "${edge#*|}" "allowed_$((i++))"; done
rm -f "$log"
if ((bad)); then echo "layering: FAILED"; exit 1; fi
echo "layering: ${#FORBIDDEN[@]} backwards dependencies refused, ${#ALLOWED[@]} allowed ones pass"
