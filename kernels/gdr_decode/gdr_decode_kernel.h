// gdr_decode_kernel.h: the raw launch behind GdrDecode (gdr_decode.h).
// Plain C++ so both nvcc and the host compiler read it; no validation here.
#ifndef HECATE_KERNELS_GDR_DECODE_GDR_DECODE_KERNEL_H_
#define HECATE_KERNELS_GDR_DECODE_GDR_DECODE_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>

namespace hecate {

// One decode step of the level-1 gated delta rule for `batch` sessions x
// `heads` heads (docs/MODEL.md section 2, level p_j == 1):
//   M = alpha * M;  M -= theta * (M k - v) k^T;  y = M q   (after the update)
struct GdrDecodeParams {
  int batch = 0;
  int heads = 0;
  int dim = 0;  // d: head width, multiple of 4, at most 256
  // Device array of `batch` pointers, one per session's state buffer; this
  // layer's M [heads, dim, dim] (row = value index) starts `state_offset`
  // floats after each. Read once and written once, in place.
  float* const* states = nullptr;
  size_t state_offset = 0;
  const float* q = nullptr;      // [batch, heads, dim]
  const float* k = nullptr;      // [batch, heads, dim]
  const float* v = nullptr;      // [batch, heads, dim]
  const float* alpha = nullptr;  // [batch, heads]
  const float* theta = nullptr;  // [batch, heads]
  float* y = nullptr;            // [batch, heads, dim]
};

cudaError_t LaunchGdrDecodeKernel(const GdrDecodeParams& params,
                                  cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_GDR_DECODE_GDR_DECODE_KERNEL_H_
