// gdr_prefill.h: level-1 gated delta rule over a chunk of T tokens.
//
// For each session b and head h, token by token (docs/MODEL.md section 2,
// level p_j == 1), in place on the session's state M:
//   M = alpha_t * M;  M = M - theta_t (M k_t - v_t) k_t^T;  y_t = M q_t
// computed in the chunked WY/UT form (chunks of 64 tokens, as in
// flash-linear-attention's chunk_gated_delta_rule): a parallel pass over all
// chunks, then a pass that carries M from chunk to chunk. Results equal the
// token-by-token loop within float32 rounding (parity tests: < 1e-4).
//
//   GdrPrefillParams p;  // shapes, strides, device pointers, workspace
//   HECATE_RETURN_IF_ERROR(GdrPrefill(p, stream));
//
// Requires |k_t| = 1 (the model l2-normalises keys) and alpha, theta in
// (0, 1]: that keeps the UT transform well conditioned, as it keeps the
// memory bounded. Validation happens before anything is launched; an
// invalid call changes no state and names the offending field.
#ifndef HECATE_KERNELS_GDR_PREFILL_GDR_PREFILL_H_
#define HECATE_KERNELS_GDR_PREFILL_GDR_PREFILL_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/gdr_prefill/gdr_prefill_kernel.h"

namespace hecate {

// Requirements (else INVALID_ARGUMENT): batch, heads >= 1, batch * heads <=
// 65535; dim 64 or 128 (tiny and base; the kernels are specialised per
// head width, add an instantiation for another); tokens in [0, 65535 * 64]
// (0 does nothing);
// qkv_stride >= heads * dim and a
// multiple of 4; gate_stride >= heads; state_offset a multiple of 4; every
// pointer non-null; q, k, v, y, workspace 16-byte aligned; workspace_floats
// >= GdrPrefillWorkspaceFloats(batch, heads, dim, tokens); y and the
// workspace overlap neither each other nor q, k, v, alpha, theta (the
// spans the call touches). Device-side
// pointers in `states` must be 16-byte aligned and distinct.
absl::Status GdrPrefill(const GdrPrefillParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_GDR_PREFILL_GDR_PREFILL_H_
