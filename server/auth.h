// ApiKeys: maps API keys to users, from a key file of `user:key` lines.
//
// Keys are compared in constant time (SHA-256 digests compared with
// CRYPTO_memcmp against every key, no early exit), so timing reveals nothing
// about which key or prefix matched. Reload() re-reads the file (SIGHUP); a
// file that fails to parse leaves the previous keys in force.
//
// File format: one `user:key` per line; blank lines and lines starting with
// '#' are ignored; users are 1..64 of [A-Za-z0-9._-] (they name directories),
// keys at least 16 characters; a key may not appear twice.
#ifndef HECATE_SERVER_AUTH_H_
#define HECATE_SERVER_AUTH_H_

#include <array>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace hecate {

class ApiKeys {
 public:
  // Auth disabled: every caller is kAnonymousUser.
  ApiKeys() = default;
  static absl::StatusOr<std::unique_ptr<ApiKeys>> FromFile(std::string path);
  static absl::StatusOr<std::unique_ptr<ApiKeys>> FromText(absl::string_view text);

  static constexpr char kAnonymousUser[] = "anonymous";

  bool enabled() const { return enabled_; }
  absl::Status Reload();
  size_t size() const;

  // The user for an `authorization` header value ("Bearer <key>").
  // UNAUTHENTICATED when missing, malformed or unknown.
  absl::StatusOr<std::string> Authenticate(absl::string_view authorization) const;

 private:
  struct Entry {
    std::string user;
    std::array<unsigned char, 32> digest;
  };
  static absl::StatusOr<std::vector<Entry>> Parse(absl::string_view text);

  bool enabled_ = false;
  std::string path_;
  mutable absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hecate

#endif  // HECATE_SERVER_AUTH_H_
