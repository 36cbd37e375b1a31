// tf32_split_reference.h: the host reference of the TF32 split
// (tf32_split.h), bit for bit what the kernel computes.
//
// TF32 is fp32 with the low 13 mantissa bits zero (10 explicit mantissa
// bits, fp32's exponent range). A value x splits as
//   hi = RoundToTf32(x),  lo = RoundToTf32(x - hi)
// (x - hi is exact in fp32), so hi + lo == x to within 2^-22 |x| (absolute
// 2^-137 where the remainder falls below fp32's normal range), and both
// parts are exactly TF32: a tensor core multiplies them exactly, whatever
// rounding the GEMM library applies to its inputs.
//
//   const Tf32Parts p = Tf32Split(x);  // p.hi + p.lo ~= x
#ifndef HECATE_KERNELS_TF32_SPLIT_TF32_SPLIT_REFERENCE_H_
#define HECATE_KERNELS_TF32_SPLIT_TF32_SPLIT_REFERENCE_H_

#include <cstdint>

namespace hecate {

// The low mantissa bits TF32 drops, and the mask that keeps the rest.
inline constexpr uint32_t kTf32DroppedBits = 13;
inline constexpr uint32_t kTf32Mask = ~((uint32_t{1} << kTf32DroppedBits) - 1);  // 0xFFFFE000

// x rounded to TF32: round to nearest on the 13 dropped bits, ties away
// from zero (PTX cvt.rna.tf32.f32). Infinities and NaN (payload included)
// are returned unchanged. A finite x that would round past the largest TF32
// (|x| >= 2^128 - 2^116) is truncated to it instead of becoming infinite,
// so that hi + lo still represents it.
float RoundToTf32(float x);

struct Tf32Parts {
  float hi = 0;
  float lo = 0;
};

// hi = RoundToTf32(x), lo = RoundToTf32(x - hi); for infinite or NaN x,
// hi = x and lo = +0 (the products carry x through hi alone, as an fp32
// GEMM would).
Tf32Parts Tf32Split(float x);

// One element of AddTf32Products (tf32_split.h), the stacked 3xtf32 form's
// final sum: (beta * c + p_lo) + p_hi in fp32, each operation rounded to
// nearest; beta == 0 reads no c (0 instead, so a NaN there does not leak).
// The small terms meet first, so p_hi (the large A_hi W_hi) is added once
// to the accumulated small ones, as the three-GEMM form does.
float Tf32ProductSum(float c, float beta, float p_lo, float p_hi);

}  // namespace hecate

#endif  // HECATE_KERNELS_TF32_SPLIT_TF32_SPLIT_REFERENCE_H_
