#include "kernels/gemv_decode/l2_prefetch.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"

namespace hecate {

absl::Status L2Prefetch(const L2PrefetchParams& p, cudaStream_t stream) {
  if (p.count < 0 || p.count > kL2PrefetchMaxSpans) {
    return absl::InvalidArgumentError(absl::StrCat("L2Prefetch: count must be in [0, ",
                                                   kL2PrefetchMaxSpans, "], got ", p.count));
  }
  for (int s = 0; s < p.count; ++s) {
    if (p.begin[s] == nullptr || reinterpret_cast<uintptr_t>(p.begin[s]) % 16 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("L2Prefetch: span ", s, " must start at a non-null 16-byte boundary"));
    }
    if (p.bytes[s] == 0 || p.bytes[s] % 16 != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "L2Prefetch: span ", s, " bytes must be a positive multiple of 16, got ", p.bytes[s]));
    }
  }
  HECATE_CUDA_RETURN_IF_ERROR(LaunchL2PrefetchKernel(p, stream));
  return absl::OkStatus();
}

}  // namespace hecate
