// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) and LevelDB's masking.
//
// Checkpoints protect every section with a *masked* CRC32C: storing the raw
// CRC of data that itself embeds CRCs makes accidental matches likelier, so
// the stored value is rotated and offset exactly as LevelDB's util/crc32c.h
// does (Mask / Unmask). Extend() picks the SSE4.2 instruction when the CPU
// has it and a slicing-by-8 table otherwise; both give identical results.
//
//   uint32_t crc = crc32c::Value(bytes);
//   uint32_t stored = crc32c::Mask(crc);
//   crc = crc32c::Extend(crc, more_bytes);   // == Value(bytes + more_bytes)
#ifndef HECATE_SESSIONS_CRC32C_H_
#define HECATE_SESSIONS_CRC32C_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace hecate {
namespace crc32c {

// CRC32C of the concatenation of A and `data`, given crc = Value(A).
uint32_t Extend(uint32_t crc, const void* data, size_t n);
inline uint32_t Extend(uint32_t crc, absl::string_view data) {
  return Extend(crc, data.data(), data.size());
}

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(absl::string_view data) { return Extend(0, data); }

inline constexpr uint32_t kMaskDelta = 0xa282ead8u;

// The value stored on disk for a CRC `crc`.
inline constexpr uint32_t Mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + kMaskDelta;
}

// Inverse of Mask().
inline constexpr uint32_t Unmask(uint32_t masked) {
  const uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

namespace internal {
// The two implementations behind Extend(), exposed so tests can compare them.
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);
// Requires HasHardwareSupport().
uint32_t ExtendHardware(uint32_t crc, const void* data, size_t n);
bool HasHardwareSupport();
}  // namespace internal

}  // namespace crc32c
}  // namespace hecate

#endif  // HECATE_SESSIONS_CRC32C_H_
