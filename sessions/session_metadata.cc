#include "sessions/session_metadata.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/base/casts.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sessions/byte_io.h"

namespace hecate {
namespace {

constexpr absl::string_view kVersionLine = "hecate-session-metadata v1";

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("session metadata: ", what));
}

// Floats as the hex of their little-endian bytes: exact, and the same on
// any host.
std::string FloatsToHex(const std::vector<float>& values) {
  std::string bytes;
  ByteWriter writer(&bytes);
  for (float v : values) writer.PutU32(absl::bit_cast<uint32_t>(v));
  return absl::BytesToHexString(bytes);
}

bool HexToFloats(absl::string_view hex, std::vector<float>* values) {
  if (hex.empty() || hex.size() % 8 != 0) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  ByteReader reader(bytes);
  uint32_t bits = 0;
  while (reader.ReadU32(&bits)) values->push_back(absl::bit_cast<float>(bits));
  return true;
}

}  // namespace

std::string EncodeSessionMetadata(const SessionMetadata& metadata) {
  std::string text =
      absl::StrCat(kVersionLine, "\n",                                      //
                   "created_unix_ns ", absl::ToUnixNanos(metadata.created), "\n",
                   "last_used_unix_ns ", absl::ToUnixNanos(metadata.last_used), "\n",
                   "tokens_in ", metadata.tokens_in, "\n",                  //
                   "tokens_out ", metadata.tokens_out, "\n");
  if (!metadata.next_logits.empty()) {
    absl::StrAppend(&text, "next_logits_pulse_id ", metadata.next_logits_pulse_id, "\n",
                    "next_logits ", FloatsToHex(metadata.next_logits), "\n");
  }
  return text;
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
  // The next-byte logits are optional, but come as a pair.
  const bool has_pulse = values.contains("next_logits_pulse_id");
  const bool has_logits = values.contains("next_logits");
  if (has_pulse != has_logits) {
    return Malformed(has_pulse ? "key 'next_logits' missing"
                               : "key 'next_logits_pulse_id' missing");
  }
  if (has_logits) {
    if (absl::Status s = get("next_logits_pulse_id", &metadata.next_logits_pulse_id); !s.ok()) {
      return s;
    }
    if (!HexToFloats(values["next_logits"], &metadata.next_logits)) {
      return Malformed("key 'next_logits' has a bad value (not lowercase hex of float32s)");
    }
  }
  return metadata;
}

}  // namespace hecate
