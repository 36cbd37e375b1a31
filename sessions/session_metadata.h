// session_metadata.h: what a session file keeps beside its checkpoint, so a
// session read back from disk (after an offload, or a drain and restart, or
// an adoption by another replica) reports the same creation time, last use
// and token counters as before, and keeps its keep_on_expiry and pinned flags.
//
// Version 2, written since the metadata became a protobuf message:
//   "hecate-session-metadata v2\n"        version line (27 bytes)
//   masked CRC32C of the payload          4 bytes, little-endian
//   payload                               hecate.sessions.SessionMetadataRecord
//                                         (session_metadata.proto), binary
// The CRC catches a torn or damaged file, which a binary protobuf might
// otherwise parse as other values. Fields unknown to this reader are skipped.
//
// Version 1 (text, written before version 2) stays readable:
//   hecate-session-metadata v1
//   created_unix_ns 1795420800123456789
//   last_used_unix_ns 1795420860000000000
//   tokens_in 5120
//   tokens_out 256
// Unknown keys are ignored; version 1 never held next_logits or the flags
// (they read as false).
//
// next_logits are the next-byte logits the session's last forward pass
// produced (the distribution a scored chunk's first byte is scored with);
// next_logits_pulse_id is the pulse id they follow, so a reader pairs them
// only with a checkpoint at that pulse id. Both are absent when the
// distribution is unknown. Damage of any kind is DATA_LOSS naming what.
#ifndef HECATE_SESSIONS_SESSION_METADATA_H_
#define HECATE_SESSIONS_SESSION_METADATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hecate {

struct SessionMetadata {
  absl::Time created;
  absl::Time last_used;
  uint64_t tokens_in = 0;
  uint64_t tokens_out = 0;
  // Empty when unknown; then next_logits_pulse_id is meaningless.
  std::vector<float> next_logits;
  uint64_t next_logits_pulse_id = 0;
  // Lifecycle flags (SessionInfo); false in files written before them.
  bool keep_on_expiry = false;
  bool pinned = false;
};

// Version 2 bytes.
std::string EncodeSessionMetadata(const SessionMetadata& metadata);
// Version 2 or version 1.
absl::StatusOr<SessionMetadata> DecodeSessionMetadata(absl::string_view bytes);

}  // namespace hecate

#endif  // HECATE_SESSIONS_SESSION_METADATA_H_
