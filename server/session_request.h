// RunSessionRequest: one chunk request against a stored session, shared by
// Stream and Generate: claims the session (one writer), runs RunChunk with
// the store's whole-or-nothing ApplyChunk, and records the chunk's metrics
// (forward time, time to first token, inter-token latency, tokens in/out).
//
// Exactly-once chunks: with `expected_pulse_id`, the session's pulse id is
// compared while the lease is held, before anything is applied, so no other
// writer can move the session between the check and the chunk. A mismatch
// is FAILED_PRECONDITION carrying the session's pulse id in the message and
// as a status payload (CurrentPulseId), which the service edge turns into
// RequestError.current_pulse_id or the `x-hecate-pulse-id` trailer.
#ifndef HECATE_SERVER_SESSION_REQUEST_H_
#define HECATE_SERVER_SESSION_REQUEST_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/chunk_runner.h"
#include "server/service_context.h"

namespace hecate {

absl::StatusOr<ChunkOutcome> RunSessionRequest(ServiceContext& context, absl::string_view user,
                                               absl::string_view session_id,
                                               absl::string_view input,
                                               const v1::OutputSpec& spec,
                                               std::optional<uint64_t> expected_pulse_id,
                                               const std::atomic<bool>* cancel,
                                               const TokenSink& sink);

// The trailing-metadata key of a Generate refused for expected_pulse_id.
inline constexpr char kPulseIdTrailer[] = "x-hecate-pulse-id";

// FAILED_PRECONDITION for a session at `current` asked to be at `expected`,
// with `current` attached (CurrentPulseId reads it back).
// The message also names the session's transcript digest when given.
absl::Status PulseMismatchError(absl::string_view session_id, uint64_t current,
                                uint64_t expected, absl::string_view digest = "");

// The session's pulse id attached by PulseMismatchError, if any.
std::optional<uint64_t> CurrentPulseId(const absl::Status& status);

// ChunkDone for an outcome.
v1::ChunkDone ToChunkDone(const ChunkOutcome& outcome);

}  // namespace hecate

#endif  // HECATE_SERVER_SESSION_REQUEST_H_
