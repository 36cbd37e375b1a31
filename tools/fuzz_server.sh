#!/usr/bin/env bash
# Fuzzes one of the server's libFuzzer targets (server/fuzz/) with libFuzzer.
#
#   tools/fuzz_server.sh TARGET [SECONDS] [libFuzzer flags...]
#     TARGET: validation_fuzzer | auth_fuzzer | stream_fuzzer
#     SECONDS: default 600; 0 only builds.
#   e.g. tools/fuzz_server.sh validation_fuzzer 300 -runs=10000000
#
# Bazel's toolchain is gcc, which has no libFuzzer, so this script compiles
# the target directly with Debian's clang (clang, libclang-rt-14-dev) with
# AddressSanitizer and UndefinedBehaviorSanitizer, as tools/fuzz_checkpoint.sh
# does. The sources, generated protobuf files and link flags are read from
# Bazel (bazel query over //server/fuzz:<name>_fuzz_target), so the script
# follows the BUILD files when code moves. Objects are cached per source
# under $FUZZ_OUT/obj and rebuilt when the source is newer.
# It runs over a scratch corpus ($FUZZ_OUT/<target>/corpus) seeded from the
# committed one (server/fuzz/corpus/<target>), so the repository is never
# modified; crash-* files land in $FUZZ_OUT/<target> (exit status != 0).
# FUZZ_NO_COVERAGE: path prefixes compiled without libFuzzer's coverage
# instrumentation (still ASan + UBSan, at -O2); default for stream_fuzzer:
# backends/cpu/ and runtime/ (the micro model's arithmetic and the sampler's
# sort of 256 logits per token: their branches follow float values, not the
# input's structure, and instrumenting them cost a third of the run and
# flooded the corpus with features; validation_fuzzer covers the sampler).
# Output: $FUZZ_OUT (default fuzz-out/, ignored by git). Runs under nice -n 19
# (FUZZ_NICE; the machine is shared). Reproduce: fuzz-out/<target>/<target> crash-<hash>
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:?usage: tools/fuzz_server.sh validation_fuzzer|auth_fuzzer|stream_fuzzer [SECONDS] [flags]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
name=${target%_fuzzer}
label=//server/fuzz:${name}_fuzz_target
out=${FUZZ_OUT:-fuzz-out}
cxx=${CXX_FUZZ:-clang++}
jobs=${FUZZ_JOBS:-2}
default_no_coverage=""
[[ "$target" == stream_fuzzer ]] && default_no_coverage="backends/cpu/ runtime/"
read -r -a no_coverage <<<"${FUZZ_NO_COVERAGE-$default_no_coverage}"
mkdir -p "$out/$target/corpus" "$out/obj"

# FUZZ_REUSE_QUERY=1 reuses the lists of the last build (the Bazel server
# is shared and its lock can be held for minutes).
lists=$out/$target.lists
if [[ "${FUZZ_REUSE_QUERY:-0}" != 1 || ! -s "$lists" ]]; then
  bazel build "$label" >&2  # the generated .pb.cc/.pb.h files
  bin=$(bazel info bazel-bin 2>/dev/null)
  {
    echo "$bin"
    bazel query "kind('source file', deps($label))" 2>/dev/null |
      grep -v '^@' | grep '\.cc$' | sed -e 's|^//||' -e 's|:|/|' -e 's|^/||' | tr '\n' ' ' || true
    echo
    bazel query "kind('generated file', deps($label))" 2>/dev/null |
      grep -v '^@' | grep '\.cc$' | sed -e 's|^//||' -e 's|:|/|' -e "s|^|$bin/|" | tr '\n' ' ' || true
    echo
    bazel query --output=build "deps($label)" 2>/dev/null |
      grep -o '"-l[a-zA-Z0-9_+.-]*"' | tr -d '"' | awk '!seen[$0]++' | tr '\n' ' ' || true
    echo
  } >"$lists"
fi
{ read -r bin; read -r -a sources; read -r -a generated; read -r -a libs; } <"$lists"

common=(-std=c++17 -g -fno-omit-frame-pointer -fno-sanitize-recover=undefined -I. -I"$bin"
        -Wno-unused-command-line-argument)
flags=(-O1 -fsanitize=fuzzer-no-link,address,undefined "${common[@]}")
plain_flags=(-O2 -fsanitize=address,undefined "${common[@]}")
covered() {  # source
  local prefix
  for prefix in "${no_coverage[@]}"; do [[ "$1" == "$prefix"* ]] && return 1; done
  return 0
}
objects=()
# An object is stale when it or its dependency file is missing, or when the
# source or any header it included (clang -MMD) is newer.
stale() {  # source object
  [[ -f "$2" && -f "${2%.o}.d" ]] || return 0
  local dep
  for dep in "$1" $(sed -e 's/^[^:]*://' -e 's/\\$//' "${2%.o}.d"); do
    [[ "$dep" -nt "$2" ]] && return 0
  done
  return 1
}
pending=()
for src in "${sources[@]}" "${generated[@]}"; do
  kind=obj
  covered "$src" || kind=obj-plain
  obj="$out/$kind/$(echo "$src" | sed -e "s|^$bin/|gen/|" -e 's|\.cc$|.o|')"
  objects+=("$obj")
  if stale "$src" "$obj"; then pending+=("$src" "$obj"); fi
done
echo "fuzz_server: ${#objects[@]} sources, $(( ${#pending[@]} / 2 )) to compile with $cxx" >&2
if (( ${#pending[@]} > 0 )); then
  printf '%s\0' "${pending[@]}" |
    FLAGS="${flags[*]}" PLAIN_FLAGS="${plain_flags[*]}" xargs -0 -n 2 -P "$jobs" bash -c \
      'f=$FLAGS; [[ "$1" == */obj-plain/* ]] && f=$PLAIN_FLAGS
       mkdir -p "$(dirname "$1")" && nice -n 10 '"$cxx"' $f -MMD -MF "${1%.o}.d" -c "$0" -o "$1"'
fi
# Uninstrumented objects first: the linker keeps the first copy of an inline
# function (e.g. absl::Span::operator[]) that several objects define, and
# their code should not call an instrumented copy.
linked=()
for obj in "${objects[@]}"; do [[ "$obj" == */obj-plain/* ]] && linked+=("$obj"); done
for obj in "${objects[@]}"; do [[ "$obj" == */obj-plain/* ]] || linked+=("$obj"); done
nice -n 10 "$cxx" -fsanitize=fuzzer,address,undefined "${linked[@]}" -o "$out/$target/$target" \
  "${libs[@]}" -lpthread
echo "fuzz_server: built $out/$target/$target" >&2
(( seconds > 0 )) || exit 0

echo "fuzz_server: running for ${seconds}s, corpus in $out/$target/corpus" >&2
seeds=$PWD/server/fuzz/corpus/$target
# ASan tuned for millions of short inputs. A 4 MB quarantine: with the
# default 256 MB every allocation touched a fresh page (a third of
# stream_fuzzer's time in page faults; auth_fuzzer's process held 600 MB
# with a third of its time in ASan's allocator, 95 MB with these options),
# and at 16 MB a fifth of stream_fuzzer's time was cache misses on recycled
# blocks; its heaviest seed allocates under 0.5 MB, so a use after free
# within an input is still caught. No fill of new blocks, no allocation
# stacks in reports (replay a crash input with ASAN_OPTIONS= for them).
# FUZZ_ASAN_OPTIONS overrides. stream_fuzzer: inputs of at most 512 bytes
# (its 8 records of requests within its limits fit).
asan_options=${FUZZ_ASAN_OPTIONS-quarantine_size_mb=4:max_malloc_fill_size=0:malloc_context_size=0}
max_len=4096
[[ "$target" == stream_fuzzer ]] && max_len=512
[[ -n "$asan_options" ]] && export ASAN_OPTIONS=$asan_options
cd "$out/$target"
exec nice -n "${FUZZ_NICE:-19}" "./$target" -max_total_time="$seconds" \
  -print_final_stats=1 -timeout=30 -rss_limit_mb=4096 -max_len="$max_len" "$@" corpus "$seeds"
