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
// Unknown keys are ignored (a later version may add some); a missing,
// repeated or malformed known key is DATA_LOSS naming it.
#ifndef HECATE_SESSIONS_SESSION_METADATA_H_
#define HECATE_SESSIONS_SESSION_METADATA_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hecate {

struct SessionMetadata {
  absl::Time created;
  absl::Time last_used;
  uint64_t tokens_in = 0;
  uint64_t tokens_out = 0;
};

std::string EncodeSessionMetadata(const SessionMetadata& metadata);
absl::StatusOr<SessionMetadata> DecodeSessionMetadata(absl::string_view text);

}  // namespace hecate

#endif  // HECATE_SESSIONS_SESSION_METADATA_H_
