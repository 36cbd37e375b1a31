// saxpy.h: y = a * x + y on the device. The smallest kernel that proves the
// CUDA build path (nvcc object -> cc_library -> cc_test) compiles, links and
// runs; its test skips cleanly where there is no GPU.
#ifndef HECATE_KERNELS_SMOKE_SAXPY_H_
#define HECATE_KERNELS_SMOKE_SAXPY_H_

#include <cuda_runtime_api.h>

#include <cstddef>

#include "absl/status/status.h"

namespace hecate {

// x and y are device pointers to n floats. INVALID_ARGUMENT for null
// pointers with n > 0; the launch error otherwise.
absl::Status Saxpy(float a, const float* x, float* y, size_t n,
                   cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_SMOKE_SAXPY_H_
