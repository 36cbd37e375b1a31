// gdr_decode.h: level-1 gated delta rule, one decode token for a batch.
//
// For each session b and head h, in place on the session's state:
//   M = alpha * M
//   M = M - theta * (M k - v) k^T
//   y = M q                                  (read after the update)
// exactly as docs/MODEL.md section 2 defines level p_j == 1. M is "value x
// key": row i is value dimension i. The kernel reads each M once and writes
// it once (see gdr_decode_kernel.cu), 16 bytes per access.
//
//   GdrDecodeParams p;  // batch, heads, dim, device pointers (see the struct)
//   HECATE_RETURN_IF_ERROR(GdrDecode(p, stream));
//
// Validation happens before anything is launched; an invalid call changes no
// state and names the offending field.
#ifndef HECATE_KERNELS_GDR_DECODE_GDR_DECODE_H_
#define HECATE_KERNELS_GDR_DECODE_GDR_DECODE_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/gdr_decode/gdr_decode_kernel.h"

namespace hecate {

// Requirements (else INVALID_ARGUMENT): batch >= 1, heads >= 1, dim a
// multiple of 4 in [4, 256]; every pointer non-null; q, k, v, y 16-byte
// aligned; y overlapping none of q, k, v, alpha, theta; state_offset a
// multiple of 4 floats. The pointers in `states`
// live on the device and cannot be checked here: each must be 16-byte
// aligned (cudaMalloc gives 256) and hold state_offset + heads*dim*dim
// floats. Sessions must be distinct (no two states[b] may alias).
absl::Status GdrDecode(const GdrDecodeParams& params, cudaStream_t stream);

// Bytes the call must move at least: each M read and written once, plus
// q, k, v, y, alpha, theta and the pointer array. For benchmarks.
double GdrDecodeMinBytes(const GdrDecodeParams& params);

}  // namespace hecate

#endif  // HECATE_KERNELS_GDR_DECODE_GDR_DECODE_H_
