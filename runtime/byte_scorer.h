// ByteScorer: the log-likelihood of a chunk's own bytes under the model
// (hecate.v1 ScoreRequest), from the logits the forward pass produces.
//
// Byte i of a chunk is scored with the log-softmax of the logits the model
// gave after byte i-1; byte 1 with `previous`, the next-byte logits of the
// session's last forward pass, or not at all when those are unknown. The
// logits come a slice at a time (SessionStore hands a long chunk over in
// slices so that it never holds [T, V] floats at once); the scorer carries
// the last row of a slice over to the first byte of the next.
//
//   ByteScorer scorer(session_next_logits, /*per_byte=*/false);
//   scorer.Add(tokens_0_to_k, logits_0_to_k);   // rows [k, V], row i after token i
//   scorer.Add(tokens_k_to_n, logits_k_to_n);
//   ByteScores scores = scorer.scores();
#ifndef HECATE_RUNTIME_BYTE_SCORER_H_
#define HECATE_RUNTIME_BYTE_SCORER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace hecate {

struct ByteScores {
  // Sum of the scored bytes' log-probabilities (natural log, float64).
  double sum_logprob = 0.0;
  int64_t scored_bytes = 0;
  // Whether the chunk's first byte was scored (the previous distribution
  // was known).
  bool first_byte_scored = false;
  // One per scored byte, in order; only when asked for.
  std::vector<float> byte_logprobs;
};

// log P(token) under softmax(logits), computed in float64 with the maximum
// subtracted first, so large logits neither overflow nor lose the token's
// own precision. `token` must index `logits`.
double LogProbability(absl::Span<const float> logits, int token);

class ByteScorer {
 public:
  // `previous`: the next-byte logits before the chunk's first byte; empty
  // when unknown (that byte is then not scored).
  ByteScorer(absl::Span<const float> previous, bool per_byte);

  // Scores the chunk's next `tokens` given `logits` ([tokens.size(), V], row
  // i the logits after tokens[i]). INTERNAL when the shapes disagree (V
  // differs from an earlier slice or from `previous`, a token is >= V); the
  // scores are then unchanged.
  absl::Status Add(absl::Span<const uint8_t> tokens, absl::Span<const float> logits);

  const ByteScores& scores() const { return scores_; }
  // The logits after the last byte added (the next byte's distribution);
  // `previous` until something is added.
  absl::Span<const float> next_logits() const { return pending_; }

 private:
  const bool per_byte_;
  bool started_ = false;
  std::vector<float> pending_;  // empty: unknown
  ByteScores scores_;
};

}  // namespace hecate

#endif  // HECATE_RUNTIME_BYTE_SCORER_H_
