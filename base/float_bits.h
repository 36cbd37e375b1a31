// FloatBits / FloatFromBits: a float's IEEE-754 bit pattern and back, for code
// and tests that round or compare mantissas bit by bit (C++17 has no
// std::bit_cast; memcpy is the defined way and compiles to a move).
#ifndef HECATE_BASE_FLOAT_BITS_H_
#define HECATE_BASE_FLOAT_BITS_H_

#include <cstdint>
#include <cstring>

namespace hecate {

inline uint32_t FloatBits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof(b));
  return b;
}

inline float FloatFromBits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof(x));
  return x;
}

}  // namespace hecate

#endif  // HECATE_BASE_FLOAT_BITS_H_
