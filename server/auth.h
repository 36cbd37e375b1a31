// ApiKeys: maps API keys to users, from a key file of `user:key` lines.
//
// Keys are compared in constant time (SHA-256 digests compared with
// CRYPTO_memcmp against every key, no early exit), so timing reveals nothing
// about which key or prefix matched. Reload() re-reads the file (SIGHUP); a
// file that fails to parse leaves the previous keys in force.
//
// File format: one `user:key` per line; blank lines and lines starting with
// '#' are ignored; users are 1..64 of [A-Za-z0-9._-] (they name directories),
// keys at least 16 characters; a key may not appear twice. After the key,
// optional per-user settings, each a word `name=value` (name of lowercase
// letters and '_') after whitespace, so a key cannot end in such a word:
//   alice:alice-key-0123456789 session_ttl=30m
//   session_ttl=DURATION  the user's idle sessions expire after DURATION
//                         instead of hecated's --session_ttl ("90s", "30m",
//                         "2h"; "0": never). A setting belongs to the user:
//                         on any one of their keys' lines it applies to all
//                         of them; two lines giving one user different
//                         values are an error, as is an unknown setting.
// Reload() replaces the settings with the keys.
#ifndef HECATE_SERVER_AUTH_H_
#define HECATE_SERVER_AUTH_H_

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

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

  // The user's session_ttl setting; nullopt when the file gives none.
  std::optional<absl::Duration> SessionTtl(absl::string_view user) const;
  // The shortest positive session_ttl of any user; nullopt when none.
  std::optional<absl::Duration> ShortestSessionTtl() const;

 private:
  struct Entry {
    std::string user;
    std::array<unsigned char, 32> digest;
  };
  struct Parsed {
    std::vector<Entry> entries;
    absl::flat_hash_map<std::string, absl::Duration> session_ttls;
  };
  static absl::StatusOr<Parsed> Parse(absl::string_view text);

  bool enabled_ = false;
  std::string path_;
  mutable absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Duration> session_ttls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hecate

#endif  // HECATE_SERVER_AUTH_H_
