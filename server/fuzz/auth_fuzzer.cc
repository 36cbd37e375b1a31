// libFuzzer target: the API key file parser and the `authorization` header
// check (server/auth.h).
//
// The input is a key file and a header value, separated by the first NUL
// byte (no NUL: all of it is the header, checked against a fixed key file).
// Parsing must fail only with INVALID_ARGUMENT naming a line; a parsed file
// must authenticate `Bearer <key>` as its user for every one of its lines
// and nothing else: a header is accepted only when it is exactly `Bearer `
// and one of the file's keys, and every refusal is UNAUTHENTICATED. Auth off
// makes every header the anonymous user. Build and run:
// tools/fuzz_server.sh auth_fuzzer.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/auth.h"
#include "server/fuzz/fuzz_check.h"

namespace hecate {
namespace {

constexpr char kFixedKeys[] =
    "# fixed key file\n"
    "alice:alice-key-0123456789abcdef\n"
    "bob:bob-key-fedcba9876543210\n";

struct Line {
  std::string user;
  std::string key;
};

// Whether `word` is a per-user setting (`name=value`, name of [a-z_]).
bool IsSetting(absl::string_view word) {
  const size_t equals = word.find('=');
  if (equals == 0 || equals == absl::string_view::npos) return false;
  return word.substr(0, equals).find_first_not_of("abcdefghijklmnopqrstuvwxyz_") ==
         absl::string_view::npos;
}

// The file's `user:key` lines, split as the documented format says: the key
// is what follows the colon, less the trailing settings words.
std::vector<Line> Lines(absl::string_view text) {
  std::vector<Line> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    absl::string_view key = line.substr(colon + 1);
    for (size_t space; (space = key.find_last_of(" \t")) != absl::string_view::npos &&
                       IsSetting(key.substr(space + 1));) {
      key = absl::StripTrailingAsciiWhitespace(key.substr(0, space));
    }
    lines.push_back({std::string(line.substr(0, colon)), std::string(key)});
  }
  return lines;
}

void CheckHeader(const ApiKeys& keys, const std::vector<Line>& lines, absl::string_view header) {
  absl::StatusOr<std::string> user = keys.Authenticate(header);
  const Line* match = nullptr;
  if (absl::StartsWith(header, "Bearer ")) {
    for (const Line& line : lines) {
      if (line.key == header.substr(7)) match = &line;
    }
  }
  if (match == nullptr) {
    FUZZ_CHECK(!user.ok(), "accepted a header that carries none of the keys");
    FUZZ_CHECK(user.status().code() == absl::StatusCode::kUnauthenticated,
               user.status().ToString());
    FUZZ_CHECK(!user.status().message().empty(), "empty message");
    // The refusal never echoes what the caller sent: a longer header of the
    // same kind gets the same message.
    const std::string longer = absl::StrCat(header, std::string(40, '\x01'));
    bool longer_matches = false;
    for (const Line& line : lines) longer_matches |= absl::StrCat("Bearer ", line.key) == longer;
    if (!header.empty() && !longer_matches) {
      FUZZ_CHECK(keys.Authenticate(longer).status().message() == user.status().message(),
                 "the refusal depends on the header's bytes");
    }
  } else {
    FUZZ_CHECK(user.ok() && *user == match->user, "a key of the file did not authenticate");
  }
}

}  // namespace
}  // namespace hecate

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using hecate::ApiKeys;
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  absl::string_view text = hecate::kFixedKeys;
  absl::string_view header = input;
  if (nul != absl::string_view::npos) {
    text = input.substr(0, nul);
    header = input.substr(nul + 1);
  }

  const ApiKeys off;
  absl::StatusOr<std::string> anonymous = off.Authenticate(header);
  FUZZ_CHECK(anonymous.ok() && *anonymous == ApiKeys::kAnonymousUser, "auth off refused a call");

  absl::StatusOr<std::unique_ptr<ApiKeys>> keys = ApiKeys::FromText(text);
  if (!keys.ok()) {
    FUZZ_CHECK(keys.status().code() == absl::StatusCode::kInvalidArgument,
               keys.status().ToString());
    FUZZ_CHECK(absl::StartsWith(keys.status().message(), "api key file"),
               "parse error does not name the file");
    return 0;
  }
  const std::vector<hecate::Line> lines = hecate::Lines(text);
  FUZZ_CHECK((*keys)->enabled() && (*keys)->size() == lines.size() && !lines.empty(),
             absl::StrCat("parsed ", (*keys)->size(), " keys from ", lines.size(), " lines"));
  hecate::CheckHeader(**keys, lines, header);
  for (const hecate::Line& line : lines) {
    FUZZ_CHECK(line.key.size() >= 16, "accepted a short key");
    hecate::CheckHeader(**keys, lines, absl::StrCat("Bearer ", line.key));
    hecate::CheckHeader(**keys, lines, line.key);  // no scheme
  }
  return 0;
}
