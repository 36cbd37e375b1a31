#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "base/status_macros.h"

namespace hecate {
namespace {

constexpr size_t kMinKeyLength = 16;

std::array<unsigned char, 32> Digest(absl::string_view key) {
  std::array<unsigned char, 32> out;
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), out.data());
  return out;
}

bool ValidUser(absl::string_view user) {
  if (user.empty() || user.size() > 64 || user[0] == '.') return false;
  for (char c : user) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// A setting's name: lowercase letters and underscores ("session_ttl").
bool IsSettingName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<ApiKeys::Parsed> ApiKeys::Parse(absl::string_view text) {
  Parsed parsed;
  std::vector<Entry>& entries = parsed.entries;
  int line_no = 0;
  auto error = [&line_no](auto&&... what) {
    return absl::InvalidArgumentError(absl::StrCat("api key file line ", line_no, ": ", what...));
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return error("expected user:key");
    absl::string_view user = line.substr(0, colon), key = line.substr(colon + 1);
    // Settings are the trailing `name=value` words; the key is what precedes
    // them (as before settings existed, it may start with whitespace).
    for (;;) {
      const size_t space = key.find_last_of(" \t");
      if (space == absl::string_view::npos) break;
      const absl::string_view word = key.substr(space + 1);
      const size_t equals = word.find('=');
      const absl::string_view name = word.substr(0, equals);
      if (equals == absl::string_view::npos || !IsSettingName(name)) break;
      if (name != "session_ttl") {
        return error("unknown setting '", name, "' (settings: session_ttl=DURATION)");
      }
      const absl::string_view value = word.substr(equals + 1);
      absl::Duration ttl;
      if (!absl::ParseDuration(value, &ttl) || ttl < absl::ZeroDuration() ||
          ttl == absl::InfiniteDuration()) {
        return error("session_ttl must be a duration such as 90s, 30m or 2h (0: never), got '",
                     value, "'");
      }
      auto [it, inserted] = parsed.session_ttls.emplace(user, ttl);
      if (!inserted && it->second != ttl) {
        return error("session_ttl of user ", user, " differs from an earlier line's (",
                     absl::FormatDuration(it->second), ")");
      }
      key = absl::StripTrailingAsciiWhitespace(key.substr(0, space));
    }
    if (!ValidUser(user)) return error("user must be 1..64 of [A-Za-z0-9._-]");
    if (key.size() < kMinKeyLength) return error("key shorter than ", kMinKeyLength);
    Entry e{std::string(user), Digest(key)};
    for (const Entry& other : entries) {
      if (other.digest == e.digest) return error("duplicate key");
    }
    entries.push_back(std::move(e));
  }
  if (entries.empty()) return absl::InvalidArgumentError("api key file has no keys");
  return parsed;
}

absl::StatusOr<std::unique_ptr<ApiKeys>> ApiKeys::FromText(absl::string_view text) {
  HECATE_ASSIGN_OR_RETURN(Parsed parsed, Parse(text));
  auto keys = std::make_unique<ApiKeys>();
  keys->enabled_ = true;
  keys->entries_ = std::move(parsed.entries);
  keys->session_ttls_ = std::move(parsed.session_ttls);
  return keys;
}

absl::StatusOr<std::unique_ptr<ApiKeys>> ApiKeys::FromFile(std::string path) {
  auto keys = std::make_unique<ApiKeys>();
  keys->enabled_ = true;
  keys->path_ = std::move(path);
  HECATE_RETURN_IF_ERROR(keys->Reload());
  return keys;
}

absl::Status ApiKeys::Reload() {
  if (path_.empty()) return absl::OkStatus();
  std::ifstream in(path_);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read api key file ", path_));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<Parsed> parsed = Parse(text.str());
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(path_, ": ", parsed.status().message()));
  absl::MutexLock lock(&mu_);
  entries_ = std::move(parsed->entries);
  session_ttls_ = std::move(parsed->session_ttls);
  return absl::OkStatus();
}

std::optional<absl::Duration> ApiKeys::SessionTtl(absl::string_view user) const {
  absl::MutexLock lock(&mu_);
  auto it = session_ttls_.find(user);
  if (it == session_ttls_.end()) return std::nullopt;
  return it->second;
}

std::optional<absl::Duration> ApiKeys::ShortestSessionTtl() const {
  absl::MutexLock lock(&mu_);
  std::optional<absl::Duration> shortest;
  for (const auto& [user, ttl] : session_ttls_) {
    if (ttl > absl::ZeroDuration() && (!shortest.has_value() || ttl < *shortest)) shortest = ttl;
  }
  return shortest;
}

size_t ApiKeys::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

absl::StatusOr<std::string> ApiKeys::Authenticate(absl::string_view authorization) const {
  if (!enabled_) return std::string(kAnonymousUser);
  constexpr absl::string_view kBearer = "Bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError("missing `authorization: Bearer <api key>` metadata");
  }
  if (!absl::StartsWith(authorization, kBearer)) {
    return absl::UnauthenticatedError("authorization metadata must be `Bearer <api key>`");
  }
  const std::array<unsigned char, 32> digest = Digest(authorization.substr(kBearer.size()));
  absl::MutexLock lock(&mu_);
  const Entry* match = nullptr;
  for (const Entry& e : entries_) {
    // Every entry is compared, whatever matched before.
    if (CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0) match = &e;
  }
  if (match == nullptr) return absl::UnauthenticatedError("unknown api key");
  return match->user;
}

}  // namespace hecate
