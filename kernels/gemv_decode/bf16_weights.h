// bf16_weights.h: fp32 weights to bf16 on the host, for the decode GEMV's
// bf16-weights mode (gemv_decode_kernel.h, GemvWeights::kBf16): weights
// stored as bf16 halve the bytes a decode step streams, while inputs, sums
// and outputs stay fp32.
//
//   std::vector<uint16_t> w16 = ToBf16(w);        // upload as the weights
//   std::vector<float> held = RoundedToBf16(w);   // what the kernel multiplies by
//
// Round to nearest, ties to even (IEEE's default, and CUDA's
// __float2bfloat16_rn for every non-NaN input), so a weight is off by at
// most half a bf16 unit in the last place (2^-9 relative). Values past the
// largest bf16 round to infinity; NaN stays a quiet NaN with its sign;
// subnormals round like any other value (bf16 has fp32's exponent range).
#ifndef HECATE_KERNELS_GEMV_DECODE_BF16_WEIGHTS_H_
#define HECATE_KERNELS_GEMV_DECODE_BF16_WEIGHTS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace hecate {

// The bf16 bit pattern nearest to x (ties to the even pattern).
uint16_t FloatToBf16Bits(float x);

// The fp32 value of a bf16 bit pattern (exact: the top half of an fp32).
float Bf16BitsToFloat(uint16_t bits);

std::vector<uint16_t> ToBf16(absl::Span<const float> x);

// Each value rounded to bf16 and widened back: the weights the bf16 kernel
// actually uses, for references that must isolate the kernel's own error.
std::vector<float> RoundedToBf16(absl::Span<const float> x);

}  // namespace hecate

#endif  // HECATE_KERNELS_GEMV_DECODE_BF16_WEIGHTS_H_
