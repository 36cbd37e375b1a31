// tf32_split_kernel.h: the raw launch behind Tf32SplitRows (tf32_split.h).
// Plain C++ so both nvcc and the host compiler read it; no validation here.
#ifndef HECATE_KERNELS_TF32_SPLIT_TF32_SPLIT_KERNEL_H_
#define HECATE_KERNELS_TF32_SPLIT_TF32_SPLIT_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>

namespace hecate {

// hi/lo[r * ld_out + c] = the TF32 split of in[r * ld_in + c] for r < rows,
// c < cols (rows, cols >= 1). Four values a thread at a time when every
// pointer is 16-byte aligned and cols and both strides are multiples of 4.
cudaError_t LaunchTf32SplitKernel(const float* in, int rows, int cols, size_t ld_in, float* hi,
                                  float* lo, size_t ld_out, cudaStream_t stream);

// c[r * ldc + j] = (beta * c[r * ldc + j] + lo[r * ld_p + j]) + hi[r * ld_p + j]
// for r < rows, j < cols (rows, cols >= 1); beta == 0 never reads c. Float4
// path under the same alignment rule as above.
cudaError_t LaunchAddTf32ProductsKernel(const float* hi, const float* lo, size_t ld_p, int rows,
                                        int cols, float beta, float* c, size_t ldc,
                                        cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_TF32_SPLIT_TF32_SPLIT_KERNEL_H_
