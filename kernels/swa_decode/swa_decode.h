// swa_decode.h: sliding-window attention for one decode token per session.
//
// For each session b (pulse id p) and head h:
//   ring slot p % W <- (k, v)                       (the state update)
//   out = sum_j softmax_j(q . k_j * scale) v_j      over ring slots
//         0 .. min(W, p + 1) - 1, i.e. the last min(W, p + 1) positions
// as docs/MODEL.md section 2 defines the attention branch (q and k already
// rotated by RoPE; the ring holds keys after RoPE, StateLayout attn.k/.v).
//
//   SwaDecodeParams p;  // shapes, pointers, scale = 1/sqrt(d)
//   p.splits = SwaDecodeSplits(p.batch, p.heads, p.window, sm_count);
//   HECATE_RETURN_IF_ERROR(SwaDecode(p, stream));
//
// Validation happens before anything is launched; an invalid call changes no
// state and names the offending field.
#ifndef HECATE_KERNELS_SWA_DECODE_SWA_DECODE_H_
#define HECATE_KERNELS_SWA_DECODE_SWA_DECODE_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/swa_decode/swa_decode_kernel.h"

namespace hecate {

// Requirements (else INVALID_ARGUMENT): batch, heads, window >= 1; dim a
// multiple of 4 in [4, 256]; splits in {1, 2, 4, 8}; scale finite and > 0;
// k_offset and v_offset multiples of 4; every pointer non-null; q, k, v, out
// 16-byte aligned; out overlapping none of q, k, v. Device-side pointers
// (states, pulse) cannot be checked
// here: each states[b] must be 16-byte aligned and hold both rings.
absl::Status SwaDecode(const SwaDecodeParams& params, cudaStream_t stream);

// Blocks per (session, head) so that the grid fills `multiprocessors` about
// twice, keeping at least 32 ring slots per block.
int SwaDecodeSplits(int batch, int heads, int window, int multiprocessors);

// Minimum bytes moved with a full window: both rings read once, q, k, v, out,
// the ring slot written, pulse ids and pointers. For benchmarks.
double SwaDecodeMinBytes(const SwaDecodeParams& params);

}  // namespace hecate

#endif  // HECATE_KERNELS_SWA_DECODE_SWA_DECODE_H_
