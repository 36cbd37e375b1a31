// l2_prefetch_kernel.h: the raw launch behind kernels/gemv_decode/
// l2_prefetch.h. Plain C++ so both nvcc and the host compiler read it; no
// validation here.
#ifndef HECATE_KERNELS_GEMV_DECODE_L2_PREFETCH_KERNEL_H_
#define HECATE_KERNELS_GEMV_DECODE_L2_PREFETCH_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>

namespace hecate {

// Spans one call may name, and the bytes one bulk prefetch asks for.
inline constexpr int kL2PrefetchMaxSpans = 4;
inline constexpr size_t kL2PrefetchPieceBytes = 64 * 1024;

struct L2PrefetchParams {
  const void* begin[kL2PrefetchMaxSpans] = {};  // 16-byte aligned
  size_t bytes[kL2PrefetchMaxSpans] = {};       // multiples of 16
  int count = 0;
};

cudaError_t LaunchL2PrefetchKernel(const L2PrefetchParams& p, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_GEMV_DECODE_L2_PREFETCH_KERNEL_H_
