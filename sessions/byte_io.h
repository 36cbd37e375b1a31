// Little-endian byte encoding for the checkpoint format.
//
// ByteWriter appends fixed-width little-endian integers and raw bytes to a
// string. ByteReader reads them back from a string_view and never reads out
// of range: every read says whether the bytes were there, and a failed read
// consumes nothing. Both work on any host byte order.
//
//   ByteReader r(bytes);
//   uint32_t version;
//   if (!r.ReadU32(&version)) return Truncated("format version");
#ifndef HECATE_SESSIONS_BYTE_IO_H_
#define HECATE_SESSIONS_BYTE_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace hecate {

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  void PutU8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void PutU16(uint16_t v) { PutLittleEndian(v, 2); }
  void PutU32(uint32_t v) { PutLittleEndian(v, 4); }
  void PutU64(uint64_t v) { PutLittleEndian(v, 8); }
  void PutBytes(absl::string_view bytes) { out_->append(bytes.data(), bytes.size()); }

  size_t size() const { return out_->size(); }

 private:
  void PutLittleEndian(uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out_->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string* out_;
};

class ByteReader {
 public:
  explicit ByteReader(absl::string_view bytes) : bytes_(bytes) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }

  bool ReadU8(uint8_t* v) { return ReadLittleEndian(v, 1); }
  bool ReadU16(uint16_t* v) { return ReadLittleEndian(v, 2); }
  bool ReadU32(uint32_t* v) { return ReadLittleEndian(v, 4); }
  bool ReadU64(uint64_t* v) { return ReadLittleEndian(v, 8); }
  // `*out` views the underlying buffer.
  bool ReadBytes(size_t n, absl::string_view* out) {
    if (n > remaining()) return false;
    *out = bytes_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Skip(size_t n) {
    if (n > remaining()) return false;
    pos_ += n;
    return true;
  }

 private:
  template <typename T>
  bool ReadLittleEndian(T* v, int width) {
    if (static_cast<size_t>(width) > remaining()) return false;
    uint64_t acc = 0;
    for (int i = 0; i < width; ++i) {
      acc |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    }
    *v = static_cast<T>(acc);
    pos_ += width;
    return true;
  }

  absl::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_BYTE_IO_H_
