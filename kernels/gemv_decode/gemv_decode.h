// gemv_decode.h: the projections of a decode step (a few rows) as one
// bandwidth-bound GEMV each, with the row-wise stage before the product and
// the residual after it fused in (docs/MODEL.md section 2):
//
//   u  = rmsnorm(h) * g1;  proj = u @ Wqkv|gates   -> prologue kRmsNorm
//   h += (a * sigmoid(m)) @ Wo                      -> kMagGate, accumulate
//   u2 = rmsnorm(h) * g2;  h13 = u2 @ W1|W3         -> kRmsNorm
//   h += (silu(u2 W1) * (u2 W3)) @ W2               -> kSwiGlu, accumulate
//
// fp32 products and sums in a fixed order (the same bits every run); under
// Hopper's programmatic dependent launch the weights stream in while the
// previous kernel finishes. The many-row paths stay on cuBLAS: this is for
// rows <= kGemvDecodeMaxRows.
//
//   GemvDecodeParams p;  // see gemv_decode_kernel.h
//   if (GemvDecodeSupports(p.rows, p.n, p.k, p.w, p.ldw)) {
//     HECATE_RETURN_IF_ERROR(GemvDecode(p, stream));
//   }
//
// bf16 weights (p.weights = GemvWeights::kBf16, p.w_bf16 from
// bf16_weights.h's ToBf16): the same call with half the weight bytes; only
// the weights are rounded (GemvDecodeSupportsBf16 for the shape).
//
// Validation happens before anything is launched; an invalid call names the
// offending field (INVALID_ARGUMENT) and launches nothing. Launch errors are
// INTERNAL.
#ifndef HECATE_KERNELS_GEMV_DECODE_GEMV_DECODE_H_
#define HECATE_KERNELS_GEMV_DECODE_GEMV_DECODE_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/gemv_decode/gemv_decode_kernel.h"

namespace hecate {

// Whether a product of this shape can go through GemvDecode: rows in
// [1, kGemvDecodeMaxRows], n a multiple of 4, ldw a multiple of 4 and >= n,
// w 16-byte aligned, k >= 1 and small enough for the shared-memory slice.
bool GemvDecodeSupports(int rows, int n, int k, const float* w, size_t ldw);

// The same for bf16 weights, whose rows the kernel reads 8 columns (16
// bytes) at a time: ldw a multiple of 8 (n stays a multiple of 4).
bool GemvDecodeSupportsBf16(int rows, int n, int k, const uint16_t* w_bf16, size_t ldw);

// GemvDecodeSupports or GemvDecodeSupportsBf16, as params.weights says.
bool GemvDecodeSupportsWeights(const GemvDecodeParams& params);

// The weights' address (w or w_bf16) and the 4-byte words [k, ldw] spans
// from it, for the overlap checks of launchers built on this kernel.
const void* GemvDecodeWeightsPointer(const GemvDecodeParams& params);
size_t GemvDecodeWeightsFloats(const GemvDecodeParams& params);

// Requirements (else INVALID_ARGUMENT): GemvDecodeSupportsWeights; x, out
// and the weights (w or w_bf16) non-null; x_stride >= k (2k for kSwiGlu); out_stride >= n; gain for
// kRmsNorm; y with y_stride >= k, y_plane and levels >= 1 for kMagGate; out
// overlapping none of the inputs. Device pointers are not dereferenced here.
absl::Status GemvDecode(const GemvDecodeParams& params, cudaStream_t stream);

// Bytes the call must move at least: W once (2 bytes a weight in bf16),
// x (and y, gain) read, out written (and read when accumulating). For
// benchmarks.
double GemvDecodeMinBytes(const GemvDecodeParams& params);

}  // namespace hecate

#endif  // HECATE_KERNELS_GEMV_DECODE_GEMV_DECODE_H_
