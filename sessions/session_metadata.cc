#include "sessions/session_metadata.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sessions/byte_io.h"
#include "sessions/crc32c.h"
#include "sessions/session_metadata.pb.h"

namespace hecate {
namespace {

constexpr absl::string_view kVersion1Line = "hecate-session-metadata v1";
constexpr absl::string_view kVersion2Line = "hecate-session-metadata v2\n";

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("session metadata: ", what));
}

absl::StatusOr<SessionMetadata> DecodeVersion1(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kVersion1Line) {
    return Malformed(absl::StrCat("first line must be '", kVersion1Line, "'"));
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

absl::StatusOr<SessionMetadata> DecodeVersion2(absl::string_view bytes) {
  ByteReader reader(bytes.substr(kVersion2Line.size()));
  uint32_t stored_crc = 0;
  if (!reader.ReadU32(&stored_crc)) return Malformed("truncated before the checksum");
  const absl::string_view payload = bytes.substr(kVersion2Line.size() + 4);
  if (crc32c::Unmask(stored_crc) != crc32c::Value(payload)) {
    return Malformed("checksum mismatch (damaged or torn file)");
  }
  sessions::SessionMetadataRecord record;
  if (!record.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return Malformed("payload is not a SessionMetadataRecord");
  }
  SessionMetadata metadata;
  metadata.created = absl::FromUnixNanos(record.created_unix_ns());
  metadata.last_used = absl::FromUnixNanos(record.last_used_unix_ns());
  metadata.tokens_in = record.tokens_in();
  metadata.tokens_out = record.tokens_out();
  if (record.has_next_logits()) {
    if (record.next_logits().logits().empty()) return Malformed("next_logits has no logits");
    metadata.next_logits.assign(record.next_logits().logits().begin(),
                                record.next_logits().logits().end());
    metadata.next_logits_pulse_id = record.next_logits().pulse_id();
  }
  metadata.keep_on_expiry = record.keep_on_expiry();
  metadata.pinned = record.pinned();
  return metadata;
}

}  // namespace

std::string EncodeSessionMetadata(const SessionMetadata& metadata) {
  sessions::SessionMetadataRecord record;
  record.set_created_unix_ns(absl::ToUnixNanos(metadata.created));
  record.set_last_used_unix_ns(absl::ToUnixNanos(metadata.last_used));
  record.set_tokens_in(metadata.tokens_in);
  record.set_tokens_out(metadata.tokens_out);
  if (!metadata.next_logits.empty()) {
    record.mutable_next_logits()->set_pulse_id(metadata.next_logits_pulse_id);
    record.mutable_next_logits()->mutable_logits()->Add(metadata.next_logits.begin(),
                                                        metadata.next_logits.end());
  }
  record.set_keep_on_expiry(metadata.keep_on_expiry);
  record.set_pinned(metadata.pinned);
  const std::string payload = record.SerializeAsString();
  std::string bytes(kVersion2Line);
  ByteWriter(&bytes).PutU32(crc32c::Mask(crc32c::Value(payload)));
  bytes += payload;
  return bytes;
}

absl::StatusOr<SessionMetadata> DecodeSessionMetadata(absl::string_view bytes) {
  if (absl::StartsWith(bytes, kVersion2Line)) return DecodeVersion2(bytes);
  if (absl::StartsWith(bytes, kVersion1Line)) return DecodeVersion1(bytes);
  return Malformed(absl::StrCat("first line must be '", kVersion2Line.substr(0, 26), "' (or '",
                                kVersion1Line, "')"));
}

}  // namespace hecate
