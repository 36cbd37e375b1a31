// swa_chunk_window.cuh: the keys a block of queries attends to, for nvcc
// only. Shared by the tiled kernels (swa_prefill_tiled.cu on CUDA cores,
// swa_prefill_mma.cu on tensor cores): queries t0 .. t0 + nq - 1 of session
// b sit at positions P + t0 ..; together they need key positions lo .. hi
// (the last W before the newest query), each from this chunk's k/v
// (positions >= P) or from the ring as it was before the chunk.
#ifndef HECATE_KERNELS_SWA_PREFILL_SWA_CHUNK_WINDOW_CUH_
#define HECATE_KERNELS_SWA_PREFILL_SWA_CHUNK_WINDOW_CUH_

#include <cstddef>
#include <cstdint>

#include "kernels/swa_prefill/swa_prefill_kernel.h"

namespace hecate {

template <int kD>
struct ChunkWindow {
  const SwaPrefillParams& p;
  size_t row0;       // the session's first activation row
  int h;             // head
  uint64_t pulse;    // P: position of the chunk's token 0
  uint64_t first_q;  // position of the block's first query
  uint64_t hi;       // newest key any query needs
  uint64_t lo;       // oldest
  const float* ring_k;
  const float* ring_v;

  __device__ ChunkWindow(const SwaPrefillParams& params, int b, int head, int t0, int nq)
      : p(params),
        row0(size_t(b) * params.tokens),
        h(head),
        pulse(params.pulse[b]),
        first_q(pulse + t0),
        hi(first_q + nq - 1),
        lo(first_q >= uint64_t(params.window - 1) ? first_q - (params.window - 1) : 0),
        ring_k(params.states[b] + params.k_offset + size_t(head) * params.window * kD),
        ring_v(params.states[b] + params.v_offset + size_t(head) * params.window * kD) {}

  // Source row of key position j's key or value.
  __device__ const float* Row(uint64_t j, const float* chunk, const float* ring) const {
    return j >= pulse ? chunk + (row0 + (j - pulse)) * p.qkv_stride + h * kD
                      : ring + size_t(j % uint64_t(p.window)) * kD;
  }
  __device__ const float* Key(uint64_t j) const { return Row(j, p.k, ring_k); }
  __device__ const float* Value(uint64_t j) const { return Row(j, p.v, ring_v); }
};

}  // namespace hecate

#endif  // HECATE_KERNELS_SWA_PREFILL_SWA_CHUNK_WINDOW_CUH_
