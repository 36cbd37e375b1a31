#include "kernels/smoke/saxpy.h"

#include "kernels/cuda_check.h"
#include "kernels/smoke/saxpy_kernel.h"

namespace hecate {

absl::Status Saxpy(float a, const float* x, float* y, size_t n,
                   cudaStream_t stream) {
  if (n == 0) return absl::OkStatus();
  if (x == nullptr || y == nullptr) {
    return absl::InvalidArgumentError("Saxpy: null device pointer with n > 0");
  }
  return CudaStatus(LaunchSaxpyKernel(a, x, y, n, stream), "Saxpy launch");
}

}  // namespace hecate
