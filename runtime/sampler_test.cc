#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

std::vector<float> RandomLogits(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> logits(256);
  for (float& v : logits) v = normal(rng);
  return logits;
}

TEST(SamplerTest, GreedyIsArgmaxWithModelLogprob) {
  std::vector<float> logits = RandomLogits(TestSeed());
  int best = 0;
  for (int i = 1; i < 256; ++i) if (logits[i] > logits[best]) best = i;
  TokenChoice c = SampleToken(logits, {.temperature = 0.0f}, 5);
  EXPECT_EQ(c.token, best);
  EXPECT_NEAR(c.logprob, LogSoftmax(logits)[best], 1e-6);
}

// Ranks equal a stable sort by logit (ties to the lower index), with many
// ties: greedy takes the first best token, top-k the first k in that order.
TEST(SamplerTest, RanksTiesByLowerIndex) {
  std::mt19937_64 rng(TestSeed());
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> logits(256);
    for (float& v : logits) v = static_cast<float>(rng() % 7) - 3.0f;  // 7 values
    std::vector<int> order(logits.size());
    for (int i = 0; i < 256; ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return logits[a] > logits[b]; });
    EXPECT_EQ(SampleToken(logits, {.temperature = 0.0f}, 0).token, order[0]);
    const int k = 1 + static_cast<int>(rng() % 40);
    const std::vector<TokenChoice> top = TopK(logits, k);
    ASSERT_EQ(top.size(), static_cast<size_t>(k));
    for (int i = 0; i < k; ++i) EXPECT_EQ(top[i].token, order[i]) << "rank " << i;
    // A sampled token with top_k is always among the first k.
    SamplingOptions o{.temperature = 1.0f, .top_k = k, .top_p = 1.0f, .seed = rng()};
    const int token = SampleToken(logits, o, rng() % 1000).token;
    EXPECT_NE(std::find(order.begin(), order.begin() + k, token), order.begin() + k);
  }
}

// SampleToken as sampler.h defines it, written plainly: rank by a stable
// sort on the logits, log-probabilities from the log-softmax (in double,
// summed in token order), tempered weights relative to the top logit in rank
// order, the nucleus, then the token whose interval holds the uniform.
TokenChoice DefinitionSample(const std::vector<float>& logits, const SamplingOptions& o,
                             uint64_t pulse) {
  std::vector<int> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return logits[a] > logits[b]; });
  double max = -INFINITY, sum = 0.0;
  for (float v : logits) max = std::max<double>(max, v);
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  const double log_z = max + std::log(sum);
  auto choice = [&](int t) { return TokenChoice{t, static_cast<float>(logits[t] - log_z)}; };
  if (o.temperature == 0.0f) return choice(order[0]);
  size_t keep = o.top_k > 0 ? std::min<size_t>(o.top_k, logits.size()) : logits.size();
  std::vector<double> w(keep);
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    w[i] = std::exp((static_cast<double>(logits[order[i]]) - logits[order[0]]) / o.temperature);
    total += w[i];
  }
  if (o.top_p > 0.0f && o.top_p < 1.0f) {
    double c = 0.0;
    for (size_t i = 0; i < keep; ++i) {
      c += w[i] / total;
      if (c >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
    total = 0.0;
    for (size_t i = 0; i < keep; ++i) total += w[i];
  }
  const double target = SampleUniform(o.seed, pulse) * total;
  double c = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    c += w[i];
    if (target < c) return choice(order[i]);
  }
  return choice(order[keep - 1]);
}

// Every token and log-probability bit for bit as the definition, over
// logits with many ties, signed zeros, wide ranges, and every option.
TEST(SamplerTest, SamplesExactlyAsDefined) {
  std::mt19937_64 rng(TestSeed());
  const float temperatures[] = {1.0f, 0.7f, 1.3f, 0.0f, 1e-3f};
  for (int trial = 0; trial < 400; ++trial) {
    std::vector<float> logits(trial % 3 == 0 ? 256 : 1 + rng() % 300);
    const int kind = trial % 4;
    for (float& v : logits) {
      if (kind == 0) {
        v = std::normal_distribution<float>(0.0f, 3.0f)(rng);
      } else if (kind == 1) {
        v = static_cast<float>(static_cast<int>(rng() % 5) - 2) * 0.5f;  // ties
      } else if (kind == 2) {
        v = (rng() % 2 == 0) ? 0.0f : -0.0f;  // all equal as floats
        if (rng() % 8 == 0) v = std::normal_distribution<float>(0.0f, 1.0f)(rng);
      } else {
        v = std::normal_distribution<float>(0.0f, 40.0f)(rng);
      }
    }
    SamplingOptions o;
    o.temperature = temperatures[rng() % 5];
    o.top_k = rng() % 3 == 0 ? static_cast<int>(rng() % (logits.size() + 1)) : 0;
    o.top_p = rng() % 3 == 0 ? std::uniform_real_distribution<float>(0.0f, 1.0f)(rng) : 1.0f;
    o.seed = rng();
    for (uint64_t pulse = 0; pulse < 20; ++pulse) {
      const TokenChoice want = DefinitionSample(logits, o, pulse);
      const TokenChoice got = SampleToken(logits, o, pulse);
      ASSERT_EQ(got.token, want.token) << "trial " << trial << " pulse " << pulse;
      ASSERT_EQ(std::memcmp(&got.logprob, &want.logprob, sizeof(float)), 0)
          << "trial " << trial << ": " << got.logprob << " vs " << want.logprob;
    }
  }
}

TEST(SamplerTest, DeterministicForSeedAndPulse) {
  std::vector<float> logits = RandomLogits(TestSeed());
  SamplingOptions o{.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 42};
  int differs = 0;
  for (uint64_t pulse = 0; pulse < 200; ++pulse) {
    EXPECT_EQ(SampleToken(logits, o, pulse).token, SampleToken(logits, o, pulse).token);
    SamplingOptions other = o;
    other.seed = 43;
    differs += SampleToken(logits, o, pulse).token != SampleToken(logits, other, pulse).token;
  }
  EXPECT_GT(differs, 50);
}

TEST(SamplerTest, TopKAndTopPRestrictTheSupport) {
  std::vector<float> logits = RandomLogits(TestSeed());
  std::vector<TokenChoice> top = TopK(logits, 5);
  ASSERT_EQ(top.size(), 5u);
  for (int i = 1; i < 5; ++i) EXPECT_GE(top[i - 1].logprob, top[i].logprob);
  for (uint64_t pulse = 0; pulse < 500; ++pulse) {
    int t = SampleToken(logits, {.temperature = 2.0f, .top_k = 5, .top_p = 1.0f, .seed = 1}, pulse).token;
    bool in_top = false;
    for (const auto& c : top) in_top |= c.token == t;
    ASSERT_TRUE(in_top) << t;
  }
  // top_p tiny: only the most likely token survives.
  for (uint64_t pulse = 0; pulse < 100; ++pulse) {
    EXPECT_EQ(SampleToken(logits, {.temperature = 1.0f, .top_k = 0, .top_p = 1e-6f, .seed = 9}, pulse).token,
              top[0].token);
  }
}

TEST(SamplerTest, FrequenciesFollowTheDistribution) {
  std::vector<float> logits(256, -30.0f);
  logits[10] = std::log(0.5f);
  logits[20] = std::log(0.3f);
  logits[30] = std::log(0.2f);
  std::map<int, int> counts;
  const int n = 20000;
  for (uint64_t pulse = 0; pulse < n; ++pulse) {
    counts[SampleToken(logits, {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 3}, pulse).token]++;
  }
  EXPECT_NEAR(counts[10] / double(n), 0.5, 0.02);
  EXPECT_NEAR(counts[20] / double(n), 0.3, 0.02);
  EXPECT_NEAR(counts[30] / double(n), 0.2, 0.02);
}

// Every accepted temperature > 0 samples from the tempered distribution; one
// just above zero (down to the smallest float denormal) is greedy. Dividing
// float logits by such a temperature once overflowed to inf, every weight
// became NaN and the draw fell through to the least likely token.
TEST(SamplerTest, TinyTemperaturesActAsGreedy) {
  std::mt19937_64 rng(TestSeed());
  const float temperatures[] = {1e-45f, 1e-40f, 1e-38f, 1e-30f, 1e-6f};
  for (float temperature : temperatures) {
    ASSERT_TRUE(ValidateSamplingOptions({.temperature = temperature}, 256).ok()) << temperature;
  }
  for (int trial = 0; trial < 200; ++trial) {
    // Logits as a model may give them, small and large, with a top token
    // ahead of the next by a margin that 1e-6 turns into certainty.
    std::normal_distribution<float> normal(0.0f, trial % 2 == 0 ? 2.0f : 20.0f);
    std::vector<float> logits(256);
    for (float& v : logits) v = normal(rng);
    const int best = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    logits[best] += 0.01f;
    const float best_logprob = LogSoftmax(logits)[best];
    for (float temperature : temperatures) {
      for (int variant = 0; variant < 3; ++variant) {
        SamplingOptions o{.temperature = temperature, .top_k = variant == 1 ? 40 : 0,
                          .top_p = variant == 2 ? 0.9f : 1.0f, .seed = rng()};
        const uint64_t pulse = rng() % 100000;
        const TokenChoice c = SampleToken(logits, o, pulse);
        ASSERT_EQ(c.token, best) << "temperature " << temperature << " top_k " << o.top_k
                                 << " top_p " << o.top_p << " trial " << trial;
        ASSERT_FLOAT_EQ(c.logprob, best_logprob);
      }
    }
  }
}

TEST(SamplerTest, ValidationNamesTheField) {
  EXPECT_TRUE(ValidateSamplingOptions({}, 256).ok());
  EXPECT_NE(ValidateSamplingOptions({.temperature = -1.0f}, 256).message().find("temperature"), std::string::npos);
  EXPECT_NE(ValidateSamplingOptions({.temperature = NAN}, 256).message().find("temperature"), std::string::npos);
  EXPECT_NE(ValidateSamplingOptions({.top_k = 300}, 256).message().find("top_k"), std::string::npos);
  EXPECT_NE(ValidateSamplingOptions({.top_p = 1.5f}, 256).message().find("top_p"), std::string::npos);
}

}  // namespace
}  // namespace hecate
