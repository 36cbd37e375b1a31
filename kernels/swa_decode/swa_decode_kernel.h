// swa_decode_kernel.h: the raw launch behind SwaDecode (swa_decode.h).
// Plain C++ so both nvcc and the host compiler read it; no validation here.
#ifndef HECATE_KERNELS_SWA_DECODE_SWA_DECODE_KERNEL_H_
#define HECATE_KERNELS_SWA_DECODE_SWA_DECODE_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace hecate {

// Sliding-window attention for one new token per session, per head:
//   ring slot p % W  <- (k, v) of this token
//   out = softmax_j((q . k_j) * scale) v_j over the last min(W, p + 1)
//         positions, this one included (ring slots 0 .. min(W, p + 1) - 1).
struct SwaDecodeParams {
  int batch = 0;
  int heads = 0;
  int dim = 0;     // d, multiple of 4, at most 256
  int window = 0;  // W
  // Device array of `batch` pointers to session state buffers; the ring's
  // keys [heads, window, dim] start k_offset floats after each, its values
  // v_offset floats after each (StateLayout's attn.k / attn.v).
  float* const* states = nullptr;
  size_t k_offset = 0;
  size_t v_offset = 0;
  const uint64_t* pulse = nullptr;  // [batch] pulse id p of this token (device)
  const float* q = nullptr;         // [batch, heads, dim], after RoPE
  const float* k = nullptr;         // [batch, heads, dim], after RoPE
  const float* v = nullptr;         // [batch, heads, dim]
  float* out = nullptr;             // [batch, heads, dim]
  float scale = 0;                  // 1 / sqrt(dim)
  // Blocks that share one (session, head): 1, 2, 4 or 8; they form a thread
  // block cluster and combine their partial softmaxes through distributed
  // shared memory. SwaDecodeSplits picks it.
  int splits = 1;
  // Launch as a programmatic dependent of the previous kernel in the stream
  // (Hopper PDL): the ring's entries from earlier steps are fetched while
  // that kernel (the one computing q, k, v) finishes; q, k, v are read only
  // after it has. Without a kernel before it in the stream it runs as usual.
  // Launched so, it also lets its own programmatic dependent start once its
  // wait is over (that kernel must wait before reading `out`).
  bool programmatic = false;
};

cudaError_t LaunchSwaDecodeKernel(const SwaDecodeParams& params,
                                  cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_SWA_DECODE_SWA_DECODE_KERNEL_H_
