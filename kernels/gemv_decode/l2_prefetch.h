// l2_prefetch.h: asks the GPU to bring spans of global memory (a decode
// step's next weights) into L2 while latency-bound work runs, so the GEMVs
// after it read them from L2 instead of waiting on HBM. A hint only: it
// writes nothing, nothing waits for it, and lines may be evicted before
// they are read; results never depend on it.
//
//   L2PrefetchParams p;
//   p.begin[0] = wo;  p.bytes[0] = wo_bytes;  p.count = 1;
//   HECATE_RETURN_IF_ERROR(L2Prefetch(p, side_stream));
//
// Needs sm_90 (the bulk prefetch); on older devices the kernel does nothing.
// Validation happens before anything is launched (INVALID_ARGUMENT names the
// span); launch errors are INTERNAL.
#ifndef HECATE_KERNELS_GEMV_DECODE_L2_PREFETCH_H_
#define HECATE_KERNELS_GEMV_DECODE_L2_PREFETCH_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/gemv_decode/l2_prefetch_kernel.h"

namespace hecate {

// Requirements: count in [0, kL2PrefetchMaxSpans]; each span non-null,
// 16-byte aligned, its bytes a positive multiple of 16. Count 0 launches
// nothing.
absl::Status L2Prefetch(const L2PrefetchParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_GEMV_DECODE_L2_PREFETCH_H_
