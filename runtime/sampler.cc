#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace hecate {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) from (seed, pulse id): 53 random bits.
double UniformAt(uint64_t seed, uint64_t pulse_id) {
  const uint64_t bits = SplitMix64(SplitMix64(seed) ^ pulse_id);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// The first `count` token indices by logit, descending; ties by lower
// index (a total order, so a partial sort ranks exactly as a stable one).
std::vector<int> RankedTokens(absl::Span<const float> logits, size_t count) {
  count = std::min(count, logits.size());
  // Through the raw pointer: Span's checked operator[] is not inlined in
  // sanitizer builds, where this sort was a third of the stream fuzzer's time.
  const float* l = logits.data();
  auto before = [l](int a, int b) { return l[a] != l[b] ? l[a] > l[b] : a < b; };
  if (count == 1) {  // greedy decoding, every token of it: one pass, no heap
    int best = 0;
    for (int i = 1; i < static_cast<int>(logits.size()); ++i) {
      if (before(i, best)) best = i;
    }
    return {best};
  }
  std::vector<int> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  if (count == order.size()) {
    std::sort(order.begin(), order.end(), before);  // the same order, faster than a heap
  } else {
    std::partial_sort(order.begin(), order.begin() + count, order.end(), before);
  }
  order.resize(count);
  return order;
}

// log of the softmax's normaliser: logprob(i) = logits[i] - LogZ(logits).
double LogZ(absl::Span<const float> logits) {
  double max = -INFINITY;
  for (float v : logits) max = std::max<double>(max, v);
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  return max + std::log(sum);
}

}  // namespace

absl::Status ValidateSamplingOptions(const SamplingOptions& o, int vocab_size) {
  if (!std::isfinite(o.temperature) || o.temperature < 0.0f || o.temperature > 100.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be in [0, 100], got ", o.temperature));
  }
  if (o.top_k < 0 || o.top_k > vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k must be in [0, ", vocab_size, "], got ", o.top_k));
  }
  if (!std::isfinite(o.top_p) || o.top_p < 0.0f || o.top_p > 1.0f) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in [0, 1], got ", o.top_p));
  }
  return absl::OkStatus();
}

std::vector<float> LogSoftmax(absl::Span<const float> logits) {
  const double log_z = LogZ(logits);
  std::vector<float> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<float>(logits[i] - log_z);
  return out;
}

std::vector<TokenChoice> TopK(absl::Span<const float> logits, int k) {
  const std::vector<float> logprobs = LogSoftmax(logits);
  k = std::clamp<int>(k, 0, static_cast<int>(logits.size()));
  const std::vector<int> order = RankedTokens(logits, static_cast<size_t>(k));
  std::vector<TokenChoice> out;
  for (int i = 0; i < k; ++i) out.push_back({order[i], logprobs[order[i]]});
  return out;
}

TokenChoice SampleToken(absl::Span<const float> logits, const SamplingOptions& o,
                        uint64_t pulse_id) {
  // Every generated token of every session passes here (on the engine's
  // pool, between steps): rank only what the draw can reach.
  const double log_z = LogZ(logits);
  auto choice = [&](int token) {
    return TokenChoice{token, static_cast<float>(logits[token] - log_z)};
  };
  size_t keep = logits.size();
  if (o.temperature == 0.0f) keep = 1;
  if (o.top_k > 0) keep = std::min<size_t>(keep, o.top_k);
  const std::vector<int> order = RankedTokens(logits, keep);
  if (o.temperature == 0.0f) return choice(order[0]);

  // Tempered probabilities of the kept tokens, in rank order, relative to the
  // most likely one: exp((logit - top) / T), in double. The difference is
  // <= 0, so the quotient never overflows to +inf for a temperature just above
  // zero (a float logit / 1e-40 does: inf - inf made every weight NaN and the
  // draw fell through to the least likely token); it can only underflow to a
  // weight of 0, so tiny temperatures act as greedy.
  std::vector<double> probs(keep);
  const double top = logits[order[0]];
  const double temperature = o.temperature;
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((static_cast<double>(logits[order[i]]) - top) / temperature);
    total += probs[i];
  }
  if (o.top_p > 0.0f && o.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t nucleus = keep;
    for (size_t i = 0; i < keep; ++i) {
      cumulative += probs[i] / total;
      if (cumulative >= o.top_p) {
        nucleus = i + 1;
        break;
      }
    }
    keep = nucleus;
    total = std::accumulate(probs.begin(), probs.begin() + keep, 0.0);
  }
  const double target = UniformAt(o.seed, pulse_id) * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cumulative += probs[i];
    if (target < cumulative) return choice(order[i]);
  }
  return choice(order[keep - 1]);
}

}  // namespace hecate
