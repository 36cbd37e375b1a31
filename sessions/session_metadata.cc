#include "sessions/session_metadata.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace hecate {
namespace {

constexpr absl::string_view kVersionLine = "hecate-session-metadata v1";

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("session metadata: ", what));
}

}  // namespace

std::string EncodeSessionMetadata(const SessionMetadata& metadata) {
  return absl::StrCat(kVersionLine, "\n",                                      //
                      "created_unix_ns ", absl::ToUnixNanos(metadata.created), "\n",
                      "last_used_unix_ns ", absl::ToUnixNanos(metadata.last_used), "\n",
                      "tokens_in ", metadata.tokens_in, "\n",                  //
                      "tokens_out ", metadata.tokens_out, "\n");
}

absl::StatusOr<SessionMetadata> DecodeSessionMetadata(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kVersionLine) {
    return Malformed(absl::StrCat("first line must be '", kVersionLine, "'"));
  }
  absl::flat_hash_map<absl::string_view, absl::string_view> values;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> parts = absl::StrSplit(lines[i], absl::MaxSplits(' ', 1));
    if (parts.size() != 2) return Malformed(absl::StrCat("line ", i + 1, " is not 'key value'"));
    if (!values.emplace(parts[0], parts[1]).second) {
      return Malformed(absl::StrCat("key '", parts[0], "' repeated"));
    }
  }
  auto get = [&](absl::string_view key, auto* out) -> absl::Status {
    auto it = values.find(key);
    if (it == values.end()) return Malformed(absl::StrCat("key '", key, "' missing"));
    if (!absl::SimpleAtoi(it->second, out)) {
      return Malformed(absl::StrCat("key '", key, "' has a bad value '", it->second, "'"));
    }
    return absl::OkStatus();
  };
  int64_t created_ns = 0, last_used_ns = 0;
  SessionMetadata metadata;
  for (absl::Status s : {get("created_unix_ns", &created_ns),
                         get("last_used_unix_ns", &last_used_ns),
                         get("tokens_in", &metadata.tokens_in),
                         get("tokens_out", &metadata.tokens_out)}) {
    if (!s.ok()) return s;
  }
  metadata.created = absl::FromUnixNanos(created_ns);
  metadata.last_used = absl::FromUnixNanos(last_used_ns);
  return metadata;
}

}  // namespace hecate
