#include "base/sha256.h"

#include <climits>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "glog/logging.h"

namespace hecate {

// EVP_MD_CTX is opaque in OpenSSL 3; the header does not name it.
struct Sha256::State {
  EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : state_(new State) {
  state_->ctx = EVP_MD_CTX_new();
  // Allocation or SHA-256 being unavailable means libcrypto itself is broken.
  CHECK(state_->ctx != nullptr) << "EVP_MD_CTX_new failed";
  CHECK_EQ(EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr), 1) << "SHA-256 init failed";
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(state_->ctx);
  delete state_;
}

void Sha256::Update(const void* data, size_t size) {
  CHECK(!finished_) << "Sha256::Update after Finish";
  if (size == 0) return;
  CHECK_EQ(EVP_DigestUpdate(state_->ctx, data, size), 1);
}

void Sha256::Update(absl::string_view bytes) { Update(bytes.data(), bytes.size()); }

Sha256Digest Sha256::Finish() {
  CHECK(!finished_) << "Sha256::Finish called twice";
  finished_ = true;
  Sha256Digest out;
  unsigned int length = 0;
  CHECK_EQ(EVP_DigestFinal_ex(state_->ctx, out.data(), &length), 1);
  CHECK_EQ(length, kSha256DigestSize);
  return out;
}

Sha256Digest Sha256Of(absl::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.Finish();
}

Sha256Digest HmacSha256(absl::string_view key, absl::string_view message) {
  CHECK_LE(key.size(), static_cast<size_t>(INT_MAX)) << "HMAC key too long";
  Sha256Digest out;
  unsigned int length = 0;
  // HMAC() takes a null key pointer as "no key"; pass a valid one always.
  static const unsigned char kEmpty = 0;
  const unsigned char* key_data =
      key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  const unsigned char* message_data =
      message.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(message.data());
  CHECK(HMAC(EVP_sha256(), key_data, static_cast<int>(key.size()), message_data, message.size(),
             out.data(), &length) != nullptr)
      << "HMAC-SHA256 failed";
  CHECK_EQ(length, kSha256DigestSize);
  return out;
}

bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string DigestHex(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * digest.size());
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace hecate
