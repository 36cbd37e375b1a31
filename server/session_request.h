// Session requests: one chunk request against a stored session, shared by
// Stream and Generate: claims the session (one writer), runs the request's
// ChunkProgram with the store's whole-or-nothing chunks, and records the
// chunk's metrics (forward time, time to first token, inter-token latency,
// tokens in and out, per user).
//
// StartSessionRequest hands the program to the engine loop
// (context.engine, engine_loop.h), so no request thread waits on the device.
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
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/chunk_runner.h"
#include "server/service_context.h"

namespace hecate {

// What a session request asks for.
struct SessionRequest {
  std::string user;
  std::string session_id;
  std::string input;
  v1::OutputSpec spec;
  std::optional<uint64_t> expected_pulse_id;
  const std::atomic<bool>* cancel = nullptr;  // may be null; must outlive `done`
  absl::Time arrival = absl::Now();
};

// Called exactly once with the request's outcome.
using SessionRequestDone = std::function<void(absl::StatusOr<ChunkOutcome>)>;

// Starts `request`; `sink` gets its generated tokens as they are made (on
// the engine thread or its pool: it must not block) and `done` its outcome
// (on the executor, or on the calling thread when the request fails before
// it reaches the engine). Call it from an executor thread: claiming a
// session may wait for it or read it from disk.
void StartSessionRequest(ServiceContext& context, SessionRequest request, TokenSink sink,
                         SessionRequestDone done);

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

// GeneratedToken for a token the sink got.
v1::GeneratedToken ToGeneratedToken(const GeneratedTokenEvent& event);

}  // namespace hecate

#endif  // HECATE_SERVER_SESSION_REQUEST_H_
