// Sampler: picks the next token from logits (temperature, top-k, top-p).
//
// Deterministic: the draw for a token depends only on the logits, the
// options and (seed, pulse id), so a session restored from a checkpoint
// samples exactly what the original would have. Reported log-probabilities
// are those of the model (log-softmax of the raw logits), not of the
// tempered, truncated distribution.
#ifndef HECATE_RUNTIME_SAMPLER_H_
#define HECATE_RUNTIME_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace hecate {

struct SamplingOptions {
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0: no cut
  float top_p = 1.0f;        // 0 or 1: no cut
  uint64_t seed = 0;
};

// INVALID_ARGUMENT naming the field when out of range: temperature in
// [0, 100], top_k in [0, vocab], top_p in [0, 1], all finite.
absl::Status ValidateSamplingOptions(const SamplingOptions& options, int vocab_size);

struct TokenChoice {
  int token;
  float logprob;
};

// The token for the position whose pulse id is `pulse_id`.
TokenChoice SampleToken(absl::Span<const float> logits, const SamplingOptions& options,
                        uint64_t pulse_id);

// The uniform in [0, 1) that SampleToken's draw for (seed, pulse id) uses:
// the token whose interval of the kept, tempered weights (in rank order)
// holds uniform * their total.
double SampleUniform(uint64_t seed, uint64_t pulse_id);

// The k most likely tokens, most likely first (ties: lower token first).
std::vector<TokenChoice> TopK(absl::Span<const float> logits, int k);

// log-softmax of logits, computed in double for stability.
std::vector<float> LogSoftmax(absl::Span<const float> logits);

}  // namespace hecate

#endif  // HECATE_RUNTIME_SAMPLER_H_
