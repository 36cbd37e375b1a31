#!/usr/bin/env bash
# Fuzzes the checkpoint decoder (sessions/checkpoint_fuzzer.cc) with libFuzzer.
#
#   tools/fuzz_checkpoint.sh [SECONDS]        default 600 (the issue's 10 minutes)
#
# Bazel's toolchain is gcc, which has no libFuzzer, so this script compiles
# the target directly with Debian's clang (clang, libclang-rt-14-dev) from
# the sources it needs, with AddressSanitizer and UndefinedBehaviorSanitizer,
# linking the system abseil exactly as third_party/system.BUILD does. It runs
# over a scratch copy of the committed seed corpus
# (sessions/testdata/checkpoint_corpus), so the repository is never modified.
# Output goes to $FUZZ_OUT (default fuzz-out/, ignored by git): the binary,
# the grown corpus, and crash-* files if anything is found (exit status != 0).
# Reproduce a crash: fuzz-out/checkpoint_fuzzer fuzz-out/crash-<hash>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
out=${FUZZ_OUT:-fuzz-out}
cxx=${CXX_FUZZ:-clang++}
mkdir -p "$out/corpus"

# The abseil link line, kept in one place: third_party/system.BUILD.
mapfile -t absl_libs < <(grep -o '"-l[a-z0-9_]*"' third_party/system.BUILD |
  tr -d '"' | awk '/-labsl_|-latomic|-lrt/' | awk '!seen[$0]++')

sources=(
  runtime/model.cc runtime/weights.cc runtime/model_config.cc runtime/model_state.cc
  runtime/safetensors.cc
  base/sha256.cc
  sessions/crc32c.cc sessions/state_invariants.cc sessions/checkpoint.cc
  sessions/checkpoint_key.cc sessions/transcript.cc
  sessions/checkpoint_test_util.cc sessions/checkpoint_fuzzer.cc
)

echo "fuzz_checkpoint: compiling with $cxx" >&2
"$cxx" -std=c++17 -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I. "${sources[@]}" -o "$out/checkpoint_fuzzer" \
  "${absl_libs[@]}" -lglog -lcrypto -lpthread

echo "fuzz_checkpoint: running for ${seconds}s, corpus in $out/corpus" >&2
cd "$out"
exec ./checkpoint_fuzzer -max_total_time="$seconds" -print_final_stats=1 \
  -timeout=10 -rss_limit_mb=2048 corpus ../sessions/testdata/checkpoint_corpus
