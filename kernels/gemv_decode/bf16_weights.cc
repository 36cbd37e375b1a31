#include "kernels/gemv_decode/bf16_weights.h"

#include <cstring>

namespace hecate {

uint16_t FloatToBf16Bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
    // Truncating could leave an all-zero mantissa (infinity): force the
    // quiet bit so a NaN weight can never turn into an infinite one.
    return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  }
  // Adding 0x7FFF rounds halfway cases down; the kept mantissa's lowest bit
  // tips exact ties up only when that makes the result even. A carry out
  // of the mantissa correctly steps the exponent (up to infinity).
  const uint32_t lsb = (bits >> 16) & 1u;
  return static_cast<uint16_t>((bits + 0x7FFFu + lsb) >> 16);
}

float Bf16BitsToFloat(uint16_t bits) {
  const uint32_t wide = uint32_t(bits) << 16;
  float x;
  std::memcpy(&x, &wide, sizeof(x));
  return x;
}

std::vector<uint16_t> ToBf16(absl::Span<const float> x) {
  std::vector<uint16_t> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = FloatToBf16Bits(x[i]);
  return out;
}

std::vector<float> RoundedToBf16(absl::Span<const float> x) {
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = Bf16BitsToFloat(FloatToBf16Bits(x[i]));
  return out;
}

}  // namespace hecate
