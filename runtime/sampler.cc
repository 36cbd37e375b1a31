#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "base/float_bits.h"

namespace hecate {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A key whose ascending order is descending logit order: the float's bits
// mapped to an unsigned integer with the float's order, then negated. +0.0f
// folds -0 into +0 (they compare equal as floats, so they must tie).
uint32_t DescendingKey(float logit) {
  const uint32_t bits = FloatBits(logit + 0.0f);
  return ~((bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u);
}

// The first `count` token indices by logit, descending; ties by lower
// index. Every generated token ranks the whole vocabulary: a stable radix
// sort of the keys over indices in ascending order gives exactly that order
// (ties keep index order) in a fraction of a comparison sort's time, whose
// unpredictable branches made it most of a sampled token's cost.
std::vector<int> RankedTokens(absl::Span<const float> logits, size_t count) {
  const size_t n = logits.size();
  count = std::min(count, n);
  // Through the raw pointer: Span's checked operator[] is not inlined in
  // sanitizer builds, where this sort was a third of the stream fuzzer's time.
  const float* l = logits.data();
  if (count == 1) {  // greedy decoding, every token of it: one pass, no heap
    int best = 0;
    for (size_t i = 1; i < n; ++i) {
      if (l[i] > l[best]) best = static_cast<int>(i);  // ties keep the lower index
    }
    return {best};
  }
  std::vector<int> order(n), moved(n);
  std::vector<uint32_t> keys(n), moved_keys(n);
  for (size_t i = 0; i < n; ++i) {
    order[i] = static_cast<int>(i);
    keys[i] = DescendingKey(l[i]);
  }
  for (int shift = 0; shift < 32; shift += 8) {
    size_t start[257] = {};
    for (size_t i = 0; i < n; ++i) ++start[((keys[i] >> shift) & 0xFFu) + 1];
    if (*std::max_element(start + 1, start + 257) == n) continue;  // one digit: no move
    for (int d = 0; d < 256; ++d) start[d + 1] += start[d];
    for (size_t i = 0; i < n; ++i) {
      const size_t to = start[(keys[i] >> shift) & 0xFFu]++;
      moved[to] = order[i];
      moved_keys[to] = keys[i];
    }
    order.swap(moved);
    keys.swap(moved_keys);
  }
  order.resize(count);
  return order;
}

// log of the softmax's normaliser: logprob(i) = logits[i] - LogZ(logits).
// With `terms`, also each exp(logit - max) it summed, in token order.
double LogZ(absl::Span<const float> logits, std::vector<double>* terms = nullptr) {
  double max = -INFINITY;
  for (float v : logits) max = std::max<double>(max, v);
  if (terms != nullptr) terms->resize(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double term = std::exp(static_cast<double>(logits[i]) - max);
    if (terms != nullptr) (*terms)[i] = term;
    sum += term;
  }
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

// 53 random bits from (seed, pulse id).
double SampleUniform(uint64_t seed, uint64_t pulse_id) {
  const uint64_t bits = SplitMix64(SplitMix64(seed) ^ pulse_id);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

TokenChoice SampleToken(absl::Span<const float> logits, const SamplingOptions& o,
                        uint64_t pulse_id) {
  // Every generated token of every session passes here (on the engine's
  // pool, between steps): rank only what the draw can reach.
  size_t keep = logits.size();
  if (o.temperature == 0.0f) keep = 1;
  if (o.top_k > 0) keep = std::min<size_t>(keep, o.top_k);
  const std::vector<int> order = RankedTokens(logits, keep);

  // At temperature 1 the tempered weights below are exactly the softmax's
  // terms exp(logit - max) (x / 1.0 == x, and the top logit is the max):
  // LogZ keeps them, half the exps of the default temperature.
  const bool untempered = o.temperature == 1.0f;
  std::vector<double> terms;
  const double log_z = LogZ(logits, untempered ? &terms : nullptr);
  auto choice = [&](int token) {
    return TokenChoice{token, static_cast<float>(logits[token] - log_z)};
  };
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
    probs[i] = untempered ? terms[order[i]]
                          : std::exp((static_cast<double>(logits[order[i]]) - top) / temperature);
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
  const double target = SampleUniform(o.seed, pulse_id) * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    cumulative += probs[i];
    if (target < cumulative) return choice(order[i]);
  }
  return choice(order[keep - 1]);
}

}  // namespace hecate
