// Encoding and verified decoding of session checkpoints
// (format: sessions/checkpoint_format.h, docs/CHECKPOINT_FORMAT.md).
//
// DecodeCheckpoint verifies everything before it returns a state: first the
// signature when a key is configured (checkpoint_key.h: nothing else is read
// from a file whose seal does not verify), then magic and version, every CRC, every length against the buffer (it never reads out of
// range and never allocates from an untrusted size), the fingerprint and
// config against the loaded model, tensor names and shapes against the
// StateLayout, the pulse-id invariant (stored per-level phases and
// state_invariants.h), finiteness, and the caller's expected pulse id. An
// accepted checkpoint re-encodes to exactly the same bytes.
//
//   absl::StatusOr<std::string> bytes = EncodeCheckpoint(model, state);
//   absl::StatusOr<ModelState> back = DecodeCheckpoint(model, *bytes, 1234);
//
// With a key (CheckpointSigning) EncodeCheckpoint writes a signed version-2
// checkpoint; without one an unsigned version-1 checkpoint, as before keys
// existed.
//
// Error codes:
//   DATA_LOSS            corrupt or truncated bytes, bad magic, CRC mismatch,
//                        inconsistent lengths, names or shapes, broken
//                        invariant, non-finite value, a signature that does
//                        not match the bytes, a truncated seal
//   INVALID_ARGUMENT     a format version newer than this reader supports
//   FAILED_PRECONDITION  another model's checkpoint (fingerprint or config),
//                        a pulse id other than expected_pulse_id, an
//                        unsigned checkpoint where signatures are required,
//                        one signed with another key
#ifndef HECATE_SESSIONS_CHECKPOINT_H_
#define HECATE_SESSIONS_CHECKPOINT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "runtime/model.h"
#include "runtime/model_config.h"
#include "runtime/model_state.h"
#include "sessions/checkpoint_key.h"
#include "sessions/transcript.h"

namespace hecate {

// The checkpoint of `state`. INVALID_ARGUMENT when the state's config is not
// the model's; DATA_LOSS when the state breaks an invariant (it would not
// restore), e.g. holds a NaN.
// Signed (version 2) when `signing` has a key.
absl::StatusOr<std::string> EncodeCheckpoint(const Model& model, const ModelState& state,
                                             const CheckpointSigning& signing = {});

// As above, with the session's transcript (journal and digest chain), whose
// pulse id must be the state's (INVALID_ARGUMENT otherwise): version 3, or 4
// when signed.
absl::StatusOr<std::string> EncodeCheckpoint(const Model& model, const ModelState& state,
                                             const Transcript& transcript,
                                             const CheckpointSigning& signing = {});

// A decoded checkpoint: the state, and the transcript when the file has one
// (versions 3 and 4; nullopt for 1 and 2, whose earlier bytes are unknown).
struct DecodedCheckpoint {
  ModelState state;
  std::optional<Transcript> transcript;
};

// As DecodeCheckpoint, keeping the transcript. Its section is verified like
// the others (framing, CRC, consistency, the stored digest recomputed:
// DATA_LOSS).
absl::StatusOr<DecodedCheckpoint> DecodeCheckpointWithTranscript(
    const Model& model, absl::string_view bytes,
    std::optional<uint64_t> expected_pulse_id = std::nullopt,
    const CheckpointSigning& signing = {});

// The state stored in `bytes`, fully verified (see above), signature first.
absl::StatusOr<ModelState> DecodeCheckpoint(
    const Model& model, absl::string_view bytes,
    std::optional<uint64_t> expected_pulse_id = std::nullopt,
    const CheckpointSigning& signing = {});

// Exact size in bytes of every unsigned checkpoint of a model with this
// config; a signed one has checkpoint_format::kSealSize bytes more.
size_t CheckpointSize(const ModelConfig& config);
// The largest checkpoint of such a model without a transcript, signed or not.
size_t MaxCheckpointSize(const ModelConfig& config);
// The largest checkpoint of such a model whose transcript holds at most
// `max_journal_bytes` of journal: the limit to read session files.
size_t MaxCheckpointSize(const ModelConfig& config, size_t max_journal_bytes);

}  // namespace hecate

#endif  // HECATE_SESSIONS_CHECKPOINT_H_
