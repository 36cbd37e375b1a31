// swa_prefill_reference.h: sliding-window attention of one head of one
// session over a chunk, token by token in double, as docs/MODEL.md section 2
// defines it (written from the spec, not from the kernel). The parity test
// (swa_prefill_test.cc) compares the kernel with it; model_reference_test.cc
// (kernels/fused) proves it against the CPU backend inside the whole forward
// pass.
//
// Token t sits at position pos = P + t. Its key and value go to ring slot
// pos % W first; then it attends over the last min(W, pos + 1) positions,
// this one included: softmax_j(q . k_j * scale) v_j.
#ifndef HECATE_KERNELS_SWA_PREFILL_SWA_PREFILL_REFERENCE_H_
#define HECATE_KERNELS_SWA_PREFILL_SWA_PREFILL_REFERENCE_H_

#include <cstddef>
#include <cstdint>

namespace hecate {
namespace reference {

struct SwaHeadInputs {
  int dim = 0;
  int window = 0;
  uint64_t first_pulse = 0;  // P
  int tokens = 0;
  double scale = 0;  // 1 / sqrt(dim)
  // Token t's vectors start at q + t * qkv_stride (after RoPE).
  const double* q = nullptr;
  const double* k = nullptr;
  const double* v = nullptr;
  size_t qkv_stride = 0;
};

// ring_k, ring_v: [window, dim], slot p % W holding position p, as before the
// chunk; updated in place. Token t's output goes to out + t * out_stride.
// Slots holding no position yet (P < W) are never read.
void SwaPrefillHead(const SwaHeadInputs& in, double* ring_k, double* ring_v, double* out,
                    size_t out_stride);

}  // namespace reference
}  // namespace hecate

#endif  // HECATE_KERNELS_SWA_PREFILL_SWA_PREFILL_REFERENCE_H_
