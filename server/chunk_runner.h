// RunChunk: what one Stream request (or one Generate call) does to a session
// the caller holds exclusively: apply the input chunk, then answer what the
// request asked for (nothing, the top-k next tokens, or a sampled
// continuation whose tokens are applied one by one and handed to a sink as
// they are made).
//
// It knows nothing of gRPC or of how sessions are stored: the caller passes
// `apply`, which advances the held session atomically (SessionStore's lease).
#ifndef HECATE_SERVER_CHUNK_RUNNER_H_
#define HECATE_SERVER_CHUNK_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "runtime/backend.h"
#include "runtime/sampler.h"

namespace hecate {

// Advances the held session by `tokens`, all or nothing; fills `logits` per
// `mode`. Returns the pulse id reached.
using ApplyFn = std::function<absl::StatusOr<uint64_t>(absl::Span<const uint8_t> tokens,
                                                         LogitsMode mode,
                                                         std::vector<float>* logits)>;

struct GeneratedTokenEvent {
  int token;
  float logprob;
  int index;
  uint64_t pulse_id;  // after applying this token
};
using TokenSink = std::function<void(const GeneratedTokenEvent&)>;

struct ChunkOutcome {
  v1::FinishReason finish_reason = v1::FINISH_REASON_CHUNK_APPLIED;
  std::vector<TokenChoice> top_k;
  int generated_tokens = 0;
  uint64_t pulse_id = 0;
  absl::Duration forward_time;        // all forward passes of this request
  absl::Duration first_token_latency; // from start to the first generated token
  std::vector<absl::Duration> inter_token;  // between consecutive generated tokens
};

// `spec` must have passed ValidateOutputSpec. `start_pulse` is the session's
// pulse id before the request. Empty input with top-k or sampling is
// INVALID_ARGUMENT (the distribution comes from the last input token).
// Cancellation between generated tokens ends with FINISH_REASON_CANCELLED and
// keeps the tokens made so far.
absl::StatusOr<ChunkOutcome> RunChunk(const ApplyFn& apply, uint64_t start_pulse,
                                      absl::string_view input, const v1::OutputSpec& spec,
                                      const std::atomic<bool>* cancel, const TokenSink& sink);

}  // namespace hecate

#endif  // HECATE_SERVER_CHUNK_RUNNER_H_
