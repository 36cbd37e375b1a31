#include "kernels/bf16_dequant/bf16_dequant.h"

#include <cstdint>

#include "kernels/bf16_dequant/bf16_dequant_kernel.h"
#include "kernels/cuda_check.h"

namespace hecate {

absl::Status Bf16ToFp32(const uint16_t* in, size_t n, float* out, cudaStream_t stream) {
  if (n == 0) return absl::OkStatus();
  if (in == nullptr || out == nullptr) {
    return absl::InvalidArgumentError("Bf16ToFp32: null device pointer with n > 0");
  }
  const uintptr_t in_begin = reinterpret_cast<uintptr_t>(in);
  const uintptr_t out_begin = reinterpret_cast<uintptr_t>(out);
  if (in_begin < out_begin + n * sizeof(float) && out_begin < in_begin + n * sizeof(uint16_t)) {
    return absl::InvalidArgumentError("Bf16ToFp32: out overlaps in");
  }
  return CudaStatus(LaunchBf16ToFp32Kernel(in, n, out, stream), "Bf16ToFp32 launch");
}

}  // namespace hecate
