// saxpy_kernel.h: the raw launch behind Saxpy (no validation; nvcc-side).
#ifndef HECATE_KERNELS_SMOKE_SAXPY_KERNEL_H_
#define HECATE_KERNELS_SMOKE_SAXPY_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>

namespace hecate {
cudaError_t LaunchSaxpyKernel(float a, const float* x, float* y, size_t n,
                              cudaStream_t stream);
}  // namespace hecate

#endif  // HECATE_KERNELS_SMOKE_SAXPY_KERNEL_H_
