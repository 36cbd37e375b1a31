// cms_slow.h: the slow levels (period > 1) of the continuum memory system
// for one layer, over a chunk of tokens for a batch of sessions, in place on
// the sessions' device state (docs/MODEL.md section 2):
//
//   G += (theta / p) (M k - v) k^T            every token
//   S = eta S - G; M = alpha M + S; G = 0     where (pulse + 1) % p == 0
//   y = M q                                   read after any update
//
// A level of period 1 may be included: it advances by the gated delta rule
// (M = alpha M - theta (M k - v) k^T, y = M q) token by token, the fallback
// for head widths kernels/gdr_prefill does not cover.
//
// Fire points may fall anywhere inside the chunk and differ between
// sessions (each has its own pulse id). The result equals the token-by-token
// definition; between fire points it is the span-wise matrix products of
// the CPU reference (backends/cpu/memory.cc) up to summation order.
//
//   CmsSlowParams p;  // shapes, level table, pointers (see the struct)
//   HECATE_RETURN_IF_ERROR(CmsSlow(p, stream));
//
// Validation happens before anything is launched; an invalid call changes
// no state and names the offending field.
#ifndef HECATE_KERNELS_CMS_SLOW_CMS_SLOW_H_
#define HECATE_KERNELS_CMS_SLOW_CMS_SLOW_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/cms_slow/cms_slow_kernel.h"

namespace hecate {

// Requirements (else INVALID_ARGUMENT): batch in [1, 65535], heads >= 1,
// heads * count <= 65535; dim a multiple of 4 in [4, 128]; tokens >= 0 (0
// does nothing); count in [1, kCmsMaxLevels]; each level in [0, levels),
// each period >= 1; offsets and qkv_stride multiples of 4, qkv_stride >=
// heads * dim; gate_stride >= 3 * levels * heads; y_plane >= batch * tokens
// * heads * dim; every pointer non-null; q, k, v 16-byte aligned. Device
// pointers in `states` must be 16-byte aligned and distinct.
// With params.ring.slots > 0 (decode through the compact error buffer,
// cms_slow_kernel.h): also slots in [2, kCmsRingMaxSlots], tokens 1, every
// period > 1, a path other than kSpans, ring offsets multiples of 4 (the
// origin's even).
absl::Status CmsSlow(const CmsSlowParams& params, cudaStream_t stream);

// Folds the rings into the dense G and sets the origins (CmsRingFoldParams).
// Requirements (else INVALID_ARGUMENT): batch, layers >= 1, batch * layers
// <= 65535; dim as CmsSlow; slots in [2, kCmsRingMaxSlots]; periods > 1;
// states and pulse, or one_state with batch 1.
absl::Status CmsRingFold(const CmsRingFoldParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_CMS_SLOW_CMS_SLOW_H_
