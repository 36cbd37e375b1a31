# bundle_lib.sh: sourced by the scripts that bundle binaries for the GPU
# machine (tools/device_bundle.sh, tools/device_e2e_bundle.sh,
# tools/device_decode_bundle.sh, tools/device_ring_bundle.sh).
#
#   copy_needed_libs LIB_DIR BINARY...
#   bundle_binaries BUNDLE TARGET...   # bazel-bin's binaries of TARGETs to
#                                      # BUNDLE/bin, their libraries to BUNDLE/lib
#   make_run_bundle BUNDLE RUN_SCRIPT TARGET...
#                                      # builds TARGETs against shared libraries
#                                      # (--dynamic_mode=fully: small enough to
#                                      # travel beside the repository), bundles
#                                      # them with tools/device_runs/RUN_SCRIPT
#   drop_device_provided_libs LIB_DIR  # removes OpenSSL 3 and CUDA 13's runtime,
#                                      # which the device image has (for bundles
#                                      # that must stay small)
#   pack_bundle BUNDLE SCRIPT          # BUNDLE as BUNDLE_pack/bundle.tar.xz and
#                                      # BUNDLE_pack/run.sh, which unpacks it at
#                                      # the repository root and runs
#                                      # BUNDLE/SCRIPT: one device call carries
#                                      # BUNDLE_pack (under the 64 MiB limit)
#
# copies into LIB_DIR every shared library that ldd resolves for the binaries
# here and that the device image does not provide itself (glibc, the C++
# runtime, the CUDA driver and cuBLAS stay out; absl, grpc, protobuf, bazel's
# own solibs and cudart come along). Fails naming any library ldd cannot
# resolve. Run ldd on bazel-bin's copies, whose $ORIGIN RUNPATHs resolve.

DEVICE_PROVIDED_LIBS='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libstdc\+\+\.so|libgcc_s\.so|libcuda\.so|libcublas)'

copy_needed_libs() {
  local lib_dir=$1 bin soname path
  shift
  mkdir -p "$lib_dir"
  for bin in "$@"; do
    while read -r soname path; do
      [[ "$soname" =~ $DEVICE_PROVIDED_LIBS ]] && continue
      if [[ "$path" == "not" || ! -e "$path" ]]; then
        echo "unresolved library $soname for $bin" >&2
        return 1
      fi
      [[ -e "$lib_dir/$soname" ]] || cp -L "$path" "$lib_dir/$soname"
    done < <(ldd "$bin" | awk '/=>/ {print $1, $3}')
  done
}

bundle_binaries() {
  local bundle=$1 target pkg name
  shift
  local bins=()
  mkdir -p "$bundle/bin" "$bundle/lib"
  for target in "$@"; do
    pkg=${target#//}; pkg=${pkg%%:*}; name=${target##*:}
    bins+=("bazel-bin/$pkg/$name")
    cp -L "bazel-bin/$pkg/$name" "$bundle/bin/$name"
    chmod u+w "$bundle/bin/$name"
  done
  copy_needed_libs "$bundle/lib" "${bins[@]}"
}

make_run_bundle() {
  local bundle=$1 run_script=$2
  shift 2
  bazel build --noshow_progress --dynamic_mode=fully "$@"
  rm -rf "$bundle"
  bundle_binaries "$bundle" "$@"
  cp tools/device_runs/run_lib.sh "tools/device_runs/$run_script" "$bundle/"
  git rev-parse HEAD > "$bundle/COMMIT"
  git status --porcelain -- kernels backends/cuda tools >> "$bundle/COMMIT" || true
  du -sh "$bundle"
}

drop_device_provided_libs() {
  rm -f "$1"/{libcrypto.so.3,libssl.so.3,libcudart.so.13}
}

pack_bundle() {
  local bundle=$1 script=$2 pack=${1}_pack
  rm -rf "$pack" && mkdir -p "$pack"
  tar -cJf "$pack/bundle.tar.xz" "$bundle"
  printf '%s\n' '#!/usr/bin/env bash' \
    "# On the GPU machine: unpack $bundle at the repository root (beside" \
    "# train/ and tools/), then run $bundle/$script." \
    'set -u' \
    "cd \"\$(dirname \"\$0\")/..\" && tar xJf $pack/bundle.tar.xz &&" \
    "  exec bash $bundle/$script" \
    > "$pack/run.sh"
  du -sh "$pack"
}
