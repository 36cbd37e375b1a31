// bf16_dequant_kernel.h: the raw launch behind Bf16ToFp32 (bf16_dequant.h).
// Plain C++ so both nvcc and the host compiler read it; no validation here.
#ifndef HECATE_KERNELS_BF16_DEQUANT_BF16_DEQUANT_KERNEL_H_
#define HECATE_KERNELS_BF16_DEQUANT_BF16_DEQUANT_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace hecate {

// out[i] = the fp32 value of bf16 pattern in[i], i < n (n >= 1). 16 bytes
// of input a thread at a time when both pointers are 16-byte aligned.
cudaError_t LaunchBf16ToFp32Kernel(const uint16_t* in, size_t n, float* out,
                                   cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_BF16_DEQUANT_BF16_DEQUANT_KERNEL_H_
