#include "runtime/byte_scorer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace hecate {

double LogProbability(absl::Span<const float> logits, int token) {
  double top = logits[0];
  for (float x : logits) top = std::max(top, static_cast<double>(x));
  double total = 0.0;
  for (float x : logits) total += std::exp(static_cast<double>(x) - top);
  return static_cast<double>(logits[token]) - top - std::log(total);
}

ByteScorer::ByteScorer(absl::Span<const float> previous, bool per_byte)
    : per_byte_(per_byte), pending_(previous.begin(), previous.end()) {}

absl::Status ByteScorer::Add(absl::Span<const uint8_t> tokens, absl::Span<const float> logits) {
  if (tokens.empty()) return absl::OkStatus();
  const size_t n = tokens.size();
  const size_t vocab = logits.size() / n;
  if (vocab == 0 || logits.size() != n * vocab || (!pending_.empty() && pending_.size() != vocab)) {
    return absl::InternalError(absl::StrCat(
        "scoring: ", logits.size(), " logits for ", n, " tokens, previous distribution of ",
        pending_.size()));
  }
  for (uint8_t token : tokens) {
    if (token >= vocab) {
      return absl::InternalError(
          absl::StrCat("scoring: token ", int{token}, " outside a vocabulary of ", vocab));
    }
  }
  if (!started_) {
    started_ = true;
    scores_.first_byte_scored = !pending_.empty();
  }
  // Token i is predicted by the row before it: pending_ for i = 0.
  for (size_t i = 0; i < n; ++i) {
    absl::Span<const float> row =
        i == 0 ? absl::MakeConstSpan(pending_) : logits.subspan((i - 1) * vocab, vocab);
    if (row.empty()) continue;  // the distribution before the first byte is unknown
    const double logprob = LogProbability(row, tokens[i]);
    scores_.sum_logprob += logprob;
    ++scores_.scored_bytes;
    if (per_byte_) scores_.byte_logprobs.push_back(static_cast<float>(logprob));
  }
  pending_.assign(logits.end() - vocab, logits.end());
  return absl::OkStatus();
}

}  // namespace hecate
