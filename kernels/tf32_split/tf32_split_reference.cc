#include "kernels/tf32_split/tf32_split_reference.h"

#include <cstring>

#include "base/float_bits.h"

namespace hecate {
namespace {

constexpr uint32_t kExponent = 0x7F800000u;

}  // namespace

float RoundToTf32(float x) {
  const uint32_t b = FloatBits(x);
  if ((b & kExponent) == kExponent) return x;  // infinity or NaN
  // Sign and magnitude: adding half of the dropped range to the magnitude
  // rounds it to nearest, ties away; a carry out of the mantissa steps the
  // exponent (subnormal to normal included), which is the correct result.
  uint32_t r = (b + (uint32_t{1} << (kTf32DroppedBits - 1))) & kTf32Mask;
  if ((r & kExponent) == kExponent) r = b & kTf32Mask;  // would overflow: the largest TF32
  return FloatFromBits(r);
}

Tf32Parts Tf32Split(float x) {
  Tf32Parts p;
  p.hi = RoundToTf32(x);
  if ((FloatBits(x) & kExponent) == kExponent) return p;  // lo stays +0
  p.lo = RoundToTf32(x - p.hi);
  return p;
}

float Tf32ProductSum(float c, float beta, float p_lo, float p_hi) {
  const float base = beta == 0.0f ? 0.0f : beta * c;
  const float small = base + p_lo;
  return small + p_hi;
}

}  // namespace hecate
