// swa_prefill.h: sliding-window attention over a chunk of T tokens per
// session, with the ring update (docs/MODEL.md section 2, attention branch).
//
// For session b (pulse id P) and token t at position P + t, per head:
//   out = softmax_j((q . k_j) * scale) v_j over the last min(W, P + t + 1)
//         positions, this one included
// exactly as backends/cpu/attention.cc computes it token by token: earlier
// tokens of the same chunk are in the window, and the ring may wrap inside
// the chunk. Afterwards ring slot (P + t) % W holds token t's key and value
// for the chunk's last min(T, W) tokens (StateLayout attn.k / attn.v).
// q and k arrive already rotated by RoPE.
//
//   SwaPrefillParams p;  // shapes, pointers, scale = 1/sqrt(d)
//   HECATE_RETURN_IF_ERROR(SwaPrefill(p, stream));
//
// Two launches (attention, then the ring write). Validation happens before
// anything is launched; an invalid call changes no state and names the
// offending field.
#ifndef HECATE_KERNELS_SWA_PREFILL_SWA_PREFILL_H_
#define HECATE_KERNELS_SWA_PREFILL_SWA_PREFILL_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/swa_prefill/swa_prefill_kernel.h"

namespace hecate {

// Requirements (else INVALID_ARGUMENT): batch in [1, 65535], heads in [1,
// 65535], window >= 1; dim a multiple of 4 in [4, 128]; tokens >= 0 (0 does
// nothing); qkv_stride, out_stride >= heads * dim; scale finite and > 0;
// every pointer non-null. Device pointers in `states` must hold both rings
// and be distinct (not checked: they live on the device); `out` must not
// overlap q, k, v (the rows the call touches).
absl::Status SwaPrefill(const SwaPrefillParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_SWA_PREFILL_SWA_PREFILL_H_
