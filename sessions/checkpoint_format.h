// The checkpoint file format, byte by byte (long form: docs/CHECKPOINT_FORMAT.md).
//
// A checkpoint is one self-describing file holding a session's canonical
// state (docs/MODEL.md section 3). Integers are little-endian, floats are
// IEEE-754 binary32 little-endian, every CRC is a masked CRC32C
// (sessions/crc32c.h). The file is:
//
//   preamble   magic (8 bytes), format version (4 bytes),
//              header length (4 bytes)          -- frozen for every version
//   header     header length bytes (version 1 layout below)
//   header CRC (4 bytes) over preamble + header -- frozen for every version
//   sections   one per state tensor, in StateLayout order
//   footer     total length (8 bytes), header CRC copy (4 bytes),
//              footer CRC (4 bytes) over the first 12 footer bytes
//   seal       versions 2 and 4 only (signed): seal magic (8 bytes), key id
//              (8 bytes), HMAC-SHA256 (32 bytes) over every byte before it
//
// Version 1 is an unsigned checkpoint, version 2 a signed one: the same
// preamble, header, sections and footer (the footer's total length counts the
// bytes up to the footer's end, not the seal), followed by the seal. The key
// id is the first 8 bytes of HMAC-SHA256(key, "hecate checkpoint key id"),
// the MAC is keyed with HMAC-SHA256(key, "hecate checkpoint mac")
// (sessions/checkpoint_key.h).
//
// Versions 3 (unsigned) and 4 (signed) are 1 and 2 with a transcript section
// (sessions/transcript.h) after the tensor sections, inside the payload:
//   origin          (8 bytes)   first pulse of the digest chain (0: all known)
//   journal start   (8 bytes)   first pulse the journal holds
//   journal length  (8 bytes)   = pulse id - journal start
//   chain           (32 bytes)  digest chain value after the last whole block
//   tail            ((pulse id - origin) % 1024 bytes) bytes of the open block
//   digest          (32 bytes)  the transcript digest (recomputed and compared)
//   journal         (journal length bytes)
//   section CRC     (4 bytes)   over origin .. journal
// A checkpoint encoded without a transcript is still written as version 1
// or 2 (its bytes before the pulse id are unknown).
//
// Header (every version):
//   fingerprint     (64 bytes)  model fingerprint, lowercase hex SHA-256
//   pulse id        (8 bytes)   tokens the session has processed
//   vocab size V    (4 bytes)
//   width D         (4 bytes)
//   layers L        (4 bytes)
//   heads H         (4 bytes)
//   window W        (4 bytes)
//   MLP width F     (4 bytes)
//   level count     (4 bytes)   1..kMaxLevels
//   per level j:    period p_j (4 bytes), phase (8 bytes) = pulse id % p_j
//                   (tokens of gradient in level j's error buffer)
//   tensor count    (4 bytes)
//   payload length  (8 bytes)   bytes of all sections together
//
// Section (one state tensor):
//   name length     (2 bytes)   1..kMaxTensorNameLength
//   name            (name length bytes), e.g. "layers.0.level1.G"
//   rank            (1 byte)    1..kMaxRank
//   dims            (rank x 8 bytes), each >= 1
//   data            (4 x product(dims) bytes) float32
//   section CRC     (4 bytes)   over name length .. data
//
// Forward compatibility: a reader checks the magic, the header CRC (whose
// position the preamble fixes for every version), then the version; a
// version newer than kFormatVersion is refused, never misread.
#ifndef HECATE_SESSIONS_CHECKPOINT_FORMAT_H_
#define HECATE_SESSIONS_CHECKPOINT_FORMAT_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace hecate {
namespace checkpoint_format {

// "\x89HECKPT\n": the high byte catches 7-bit transfers, the newline catches
// text-mode conversions.
inline constexpr absl::string_view kMagic("\x89HECKPT\n", 8);
// The newest version this reader accepts; 1 (unsigned) is written without a
// checkpoint key, 2 (signed) with one; 3 and 4 likewise, with a transcript.
inline constexpr uint32_t kFormatVersion = 4;
inline constexpr uint32_t kUnsignedVersion = 1;
inline constexpr uint32_t kSignedVersion = 2;
inline constexpr uint32_t kUnsignedTranscriptVersion = 3;
inline constexpr uint32_t kSignedTranscriptVersion = 4;

// Whether files of `version` end in a seal.
constexpr bool IsSignedVersion(uint32_t version) {
  return version == kSignedVersion || version == kSignedTranscriptVersion;
}
// Whether files of `version` carry a transcript section.
constexpr bool HasTranscript(uint32_t version) {
  return version == kUnsignedTranscriptVersion || version == kSignedTranscriptVersion;
}
// Transcript section bytes besides the tail and the journal.
inline constexpr size_t kTranscriptFixedSize = 8 + 8 + 8 + 32 + 32 + 4;  // ... + CRC

inline constexpr size_t kPreambleSize = 8 + 4 + 4;
inline constexpr size_t kCrcSize = 4;
inline constexpr size_t kFingerprintSize = 64;
// Header bytes before the per-level records: fingerprint, pulse id, six
// sizes, level count.
inline constexpr size_t kHeaderFixedPrefix = kFingerprintSize + 8 + 6 * 4 + 4;
inline constexpr size_t kLevelRecordSize = 4 + 8;
// Header bytes after the per-level records: tensor count, payload length.
inline constexpr size_t kHeaderFixedSuffix = 4 + 8;
inline constexpr size_t kFooterSize = 8 + 4 + 4;

// The seal that ends a version-2 or -4 checkpoint.
inline constexpr absl::string_view kSealMagic("\x89HECSIG\n", 8);
inline constexpr size_t kKeyIdSize = 8;
inline constexpr size_t kMacSize = 32;
inline constexpr size_t kSealSize = 8 + kKeyIdSize + kMacSize;

inline constexpr uint32_t kMaxLevels = 32;
inline constexpr size_t kMaxTensorNameLength = 255;
inline constexpr uint8_t kMaxRank = 8;
// Bounds a header length read from untrusted bytes, in any version.
inline constexpr uint32_t kMaxHeaderLength = 1u << 20;

// Header length of a version-1 or -2 checkpoint with `levels` levels.
constexpr size_t HeaderLength(size_t levels) {
  return kHeaderFixedPrefix + levels * kLevelRecordSize + kHeaderFixedSuffix;
}

}  // namespace checkpoint_format
}  // namespace hecate

#endif  // HECATE_SESSIONS_CHECKPOINT_FORMAT_H_
