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

}  // namespace

absl::StatusOr<std::vector<ApiKeys::Entry>> ApiKeys::Parse(absl::string_view text) {
  std::vector<Entry> entries;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("api key file line ", line_no, ": expected user:key"));
    }
    absl::string_view user = line.substr(0, colon), key = line.substr(colon + 1);
    if (!ValidUser(user)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "api key file line ", line_no, ": user must be 1..64 of [A-Za-z0-9._-]"));
    }
    if (key.size() < kMinKeyLength) {
      return absl::InvalidArgumentError(absl::StrCat("api key file line ", line_no,
                                                     ": key shorter than ", kMinKeyLength));
    }
    Entry e{std::string(user), Digest(key)};
    for (const Entry& other : entries) {
      if (other.digest == e.digest) {
        return absl::InvalidArgumentError(absl::StrCat("api key file line ", line_no, ": duplicate key"));
      }
    }
    entries.push_back(std::move(e));
  }
  if (entries.empty()) return absl::InvalidArgumentError("api key file has no keys");
  return entries;
}

absl::StatusOr<std::unique_ptr<ApiKeys>> ApiKeys::FromText(absl::string_view text) {
  HECATE_ASSIGN_OR_RETURN(std::vector<Entry> entries, Parse(text));
  auto keys = std::make_unique<ApiKeys>();
  keys->enabled_ = true;
  keys->entries_ = std::move(entries);
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
  absl::StatusOr<std::vector<Entry>> entries = Parse(text.str());
  if (!entries.ok()) return absl::InvalidArgumentError(absl::StrCat(path_, ": ", entries.status().message()));
  absl::MutexLock lock(&mu_);
  entries_ = *std::move(entries);
  return absl::OkStatus();
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
