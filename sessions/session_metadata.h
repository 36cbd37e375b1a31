// session_metadata.h: what a session file keeps beside its checkpoint, so a
// session read back from disk (after an offload, or a drain and restart)
// reports the same creation time, last use and token counters as before.
//
// Text, one "key value" line each, after a version line:
//   hecate-session-metadata v1
//   created_unix_ns 1795420800123456789
//   last_used_unix_ns 1795420860000000000
//   tokens_in 5120
//   tokens_out 256
//   next_logits_pulse_id 5376                     (optional, with next_logits)
//   next_logits 0000803f...                       (optional: V float32s, hex)
// next_logits are the next-byte logits the session's last forward pass
// produced (the distribution a scored chunk's first byte is scored with),
// each float's little-endian bytes as 8 hex digits; next_logits_pulse_id is
// the pulse id they follow, so a reader pairs them only with a checkpoint at
// that pulse id. Both are absent when the distribution is unknown.
// Unknown keys are ignored (a later version may add some); a missing,
// repeated or malformed known key is DATA_LOSS naming it.
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
};

std::string EncodeSessionMetadata(const SessionMetadata& metadata);
absl::StatusOr<SessionMetadata> DecodeSessionMetadata(absl::string_view text);

}  // namespace hecate

#endif  // HECATE_SESSIONS_SESSION_METADATA_H_
