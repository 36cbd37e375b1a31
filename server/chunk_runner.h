// RunChunk: what one Stream request (or one Generate call) does to a session
// the caller holds exclusively: apply the input chunk, then answer what the
// request asked for (nothing, the top-k next tokens, the log-likelihood of
// the chunk's own bytes, or a sampled continuation whose tokens are applied
// one by one and handed to a sink as they are made).
//
// It knows nothing of gRPC or of how sessions are stored: the caller passes
// `apply`, which advances the held session atomically (SessionStore's lease).
#ifndef HECATE_SERVER_CHUNK_RUNNER_H_
#define HECATE_SERVER_CHUNK_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "runtime/backend.h"
#include "runtime/byte_scorer.h"
#include "runtime/sampler.h"

namespace hecate {

// Advances the held session by `tokens`, all or nothing, and returns the
// pulse id reached. kNone and kLast fill `logits` as Backend::Forward does;
// kAll hands every token's logits to `rows` instead, a slice at a time (a
// long chunk never holds [T, V] floats at once), and leaves `logits` alone.
using ApplyFn = std::function<absl::StatusOr<uint64_t>(
    absl::Span<const uint8_t> tokens, LogitsMode mode, std::vector<float>* logits,
    const LogitRowsSink& rows)>;

struct GeneratedTokenEvent {
  int token;
  float logprob;
  int index;
  uint64_t pulse_id;  // after applying this token
  // SamplingParams.top_k_alternatives most likely tokens at this position,
  // from the logits the token was sampled from (model log-probabilities).
  std::vector<TokenChoice> alternatives;
};
using TokenSink = std::function<void(const GeneratedTokenEvent&)>;

struct ChunkOutcome {
  v1::FinishReason finish_reason = v1::FINISH_REASON_CHUNK_APPLIED;
  std::vector<TokenChoice> top_k;
  // Set only for a score request.
  std::optional<ByteScores> score;
  int generated_tokens = 0;
  uint64_t pulse_id = 0;
  // The session's transcript digest after the request (set by the caller
  // that holds the session: RunSessionRequest).
  std::string transcript_digest;
  absl::Duration forward_time;        // all forward passes of this request
  absl::Duration first_token_latency; // from start to the first generated token
  std::vector<absl::Duration> inter_token;  // between consecutive generated tokens
};

// `spec` must have passed ValidateOutputSpec. `start_pulse` is the session's
// pulse id before the request and `start_logits` its next-token logits then
// (empty when unknown: a score request then leaves the chunk's first byte
// unscored). Empty input with top-k, sampling or score is INVALID_ARGUMENT
// (the distribution comes from the last input token; there is nothing to
// score). Cancellation between generated tokens ends with
// FINISH_REASON_CANCELLED and keeps the tokens made so far. Generation stops
// after a stop byte (FINISH_REASON_STOP_BYTE) or once the tokens generated
// by this request end with a stop sequence (FINISH_REASON_STOP_SEQUENCE);
// either way the stopping tokens are applied and handed to `sink`.
absl::StatusOr<ChunkOutcome> RunChunk(const ApplyFn& apply, uint64_t start_pulse,
                                      absl::Span<const float> start_logits,
                                      absl::string_view input, const v1::OutputSpec& spec,
                                      const std::atomic<bool>* cancel, const TokenSink& sink);

}  // namespace hecate

#endif  // HECATE_SERVER_CHUNK_RUNNER_H_
