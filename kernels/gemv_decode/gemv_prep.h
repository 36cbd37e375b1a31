// gemv_prep.h: a decode step's qkv+gates projection with MixerPrep as its
// epilogue (gemv_prep_kernel.h): one launch instead of the GEMV and
// kernels/fused's MixerPrep, the projection itself never written.
//
//   GemvPrepParams p;  // p.gemv as for GemvDecode (out unused), p.prep as
//                      // for MixerPrep (proj unused)
//   if (GemvPrepSupports(p)) HECATE_RETURN_IF_ERROR(GemvPrep(p, stream));
//
// Same sums as GemvDecode (fp32, a fixed order), then MixerPrep's arithmetic
// for every column; under Hopper PDL the weights stream in while the
// previous kernel finishes.
#ifndef HECATE_KERNELS_GEMV_DECODE_GEMV_PREP_H_
#define HECATE_KERNELS_GEMV_DECODE_GEMV_PREP_H_

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "kernels/gemv_decode/gemv_prep_kernel.h"

namespace hecate {

// Whether the shapes fit the kernel: GemvDecodeSupportsWeights (fp32 or
// bf16 weights, as gemv.weights says) for the product
// (prologue kNone or kRmsNorm), an even head width dividing 128, a model
// width that is a multiple of 128, gemv.n >= 6 * heads * dim + 3 * levels *
// heads, batch * tokens == gemv.rows, and the shared memory within bounds.
// Pointers are not looked at beyond the weights' alignment.
bool GemvPrepSupports(const GemvPrepParams& params);

// INVALID_ARGUMENT (naming the field) unless GemvPrepSupports and every
// pointer the call reads or writes is non-null (alpha1, theta1 only with a
// period-1 level), plane >= rows * heads * dim, and the outputs overlap no
// input. Launch errors are INTERNAL.
absl::Status GemvPrep(const GemvPrepParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_GEMV_DECODE_GEMV_PREP_H_
