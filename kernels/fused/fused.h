// fused.h: the elementwise and per-row reduction stages of the HecateLM
// forward pass (docs/MODEL.md section 2) on the device, as few launches as
// the data flow allows:
//
//   EmbedGather   h = E[x]
//   RmsNorm       u = rmsnorm(h) * g           (also the final norm, on any
//                                              strided subset of rows)
//   MixerPrep     RoPE of attention q/k (fp64 angles), silu + l2norm of
//                 memory q/k, silu of v, sigmoid gates: one launch per layer
//   MagGate       a * sigmoid(c * sum_j y_j)
//   SwiGlu        silu(u W1) * (u W3), in place on the fused [rows, 2F] GEMM
//
// Every function validates its parameters before launching (INVALID_ARGUMENT
// naming the field) and reports launch errors as INTERNAL. Parameter
// structs: kernels/fused/fused_kernels.h.
#ifndef HECATE_KERNELS_FUSED_FUSED_H_
#define HECATE_KERNELS_FUSED_FUSED_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/fused/fused_kernels.h"

namespace hecate {

absl::Status EmbedGather(const EmbedGatherParams& p, cudaStream_t stream);
absl::Status RmsNorm(const RmsNormParams& p, cudaStream_t stream);
// Requires dim even, proj_stride >= 6 * heads * dim + 3 * levels * heads,
// plane >= rows * heads * dim, delta_level in [-1, levels).
absl::Status MixerPrep(const MixerPrepParams& p, cudaStream_t stream);
absl::Status MagGate(const MagGateParams& p, cudaStream_t stream);
absl::Status SwiGlu(const SwiGluParams& p, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_FUSED_FUSED_H_
