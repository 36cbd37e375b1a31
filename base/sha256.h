// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), on OpenSSL's libcrypto.
//
// Sha256 hashes a stream of bytes: Update() any number of times, then
// Finish() once for the 32-byte digest. HmacSha256 authenticates one message
// under a key; DigestsEqual compares two digests in constant time (use it for
// every comparison of a MAC against an expected one).
//
//   Sha256 h;
//   h.Update("abc");
//   Sha256Digest d = h.Finish();          // ba7816bf...
//   std::string hex = DigestHex(d);
//   Sha256Digest mac = HmacSha256(key, message);
//
// The digests are plain bytes; nothing here allocates from an input length.
#ifndef HECATE_BASE_SHA256_H_
#define HECATE_BASE_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace hecate {

inline constexpr size_t kSha256DigestSize = 32;
using Sha256Digest = std::array<uint8_t, kSha256DigestSize>;

// A streaming SHA-256. Not copyable; Finish() may be called once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view bytes);
  void Update(const void* data, size_t size);
  Sha256Digest Finish();

 private:
  struct State;
  State* state_;
  bool finished_ = false;
};

// SHA-256 of `bytes` in one call.
Sha256Digest Sha256Of(absl::string_view bytes);

// HMAC-SHA256 of `message` under `key` (any length; RFC 2104 hashes keys
// longer than the 64-byte block).
Sha256Digest HmacSha256(absl::string_view key, absl::string_view message);

// Whether a and b are equal, in time that does not depend on where they differ.
bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b);

// Lowercase hex of a digest (64 characters).
std::string DigestHex(const Sha256Digest& digest);

// The digest as a byte string (32 bytes), e.g. to append to a file.
inline absl::string_view DigestBytes(const Sha256Digest& digest) {
  return absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size());
}

}  // namespace hecate

#endif  // HECATE_BASE_SHA256_H_
