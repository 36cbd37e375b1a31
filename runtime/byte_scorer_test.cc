#include "runtime/byte_scorer.h"

#include <cmath>
#include <random>
#include <vector>

#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "runtime/sampler.h"

namespace hecate {
namespace {

constexpr int kVocab = 256;

std::vector<float> RandomLogits(size_t rows, std::mt19937_64& rng, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(rows * kVocab);
  for (float& x : logits) x = normal(rng);
  return logits;
}

std::vector<uint8_t> RandomBytes(size_t n, std::mt19937_64& rng) {
  std::vector<uint8_t> bytes(n);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng() & 0xff);
  return bytes;
}

TEST(LogProbabilityTest, EqualsTheLogSoftmax) {
  std::mt19937_64 rng(TestSeed());
  const std::vector<float> logits = RandomLogits(1, rng, 3.0f);
  const std::vector<float> reference = LogSoftmax(logits);
  for (int token = 0; token < kVocab; ++token) {
    EXPECT_NEAR(LogProbability(logits, token), reference[token], 1e-5) << token;
  }
}

TEST(LogProbabilityTest, HugeLogitsStayFinite) {
  // Without subtracting the maximum, exp(1e4) overflows to infinity.
  std::vector<float> logits(kVocab, 1e4f);
  logits[7] = 1e4f + 2.0f;
  const double lp = LogProbability(logits, 7);
  EXPECT_TRUE(std::isfinite(lp));
  EXPECT_NEAR(lp, -std::log(1.0 + 255.0 * std::exp(-2.0)), 1e-9);
  EXPECT_NEAR(LogProbability(logits, 0), lp - 2.0, 1e-9);
}

TEST(ByteScorerTest, EachByteIsScoredWithTheRowBeforeIt) {
  std::mt19937_64 rng(TestSeed());
  const size_t n = 1 + rng() % 40;
  const std::vector<float> previous = RandomLogits(1, rng, 2.0f);
  const std::vector<float> logits = RandomLogits(n, rng, 2.0f);
  const std::vector<uint8_t> tokens = RandomBytes(n, rng);
  ByteScorer scorer(previous, /*per_byte=*/true);
  ASSERT_TRUE(scorer.Add(tokens, logits).ok());
  const ByteScores& s = scorer.scores();
  EXPECT_TRUE(s.first_byte_scored);
  ASSERT_EQ(s.scored_bytes, static_cast<int64_t>(n));
  ASSERT_EQ(s.byte_logprobs.size(), n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const std::vector<float> row =
        i == 0 ? LogSoftmax(previous)
               : LogSoftmax(absl::MakeConstSpan(logits).subspan((i - 1) * kVocab, kVocab));
    EXPECT_NEAR(s.byte_logprobs[i], row[tokens[i]], 1e-5) << i;
    sum += row[tokens[i]];
  }
  EXPECT_NEAR(s.sum_logprob, sum, 1e-4);
  EXPECT_LE(s.sum_logprob, 0.0);
  // The next byte's distribution is the last row.
  ASSERT_EQ(scorer.next_logits().size(), size_t{kVocab});
  EXPECT_EQ(scorer.next_logits()[3], logits[(n - 1) * kVocab + 3]);
}

TEST(ByteScorerTest, UnknownPreviousSkipsTheFirstByte) {
  std::mt19937_64 rng(TestSeed());
  const size_t n = 2 + rng() % 20;
  const std::vector<float> logits = RandomLogits(n, rng, 2.0f);
  const std::vector<uint8_t> tokens = RandomBytes(n, rng);
  ByteScorer scorer({}, /*per_byte=*/true);
  ASSERT_TRUE(scorer.Add(tokens, logits).ok());
  EXPECT_FALSE(scorer.scores().first_byte_scored);
  EXPECT_EQ(scorer.scores().scored_bytes, static_cast<int64_t>(n - 1));
  ASSERT_EQ(scorer.scores().byte_logprobs.size(), n - 1);
  EXPECT_NEAR(scorer.scores().byte_logprobs[0],
              LogSoftmax(absl::MakeConstSpan(logits).subspan(0, kVocab))[tokens[1]], 1e-5);
}

TEST(ByteScorerTest, SlicesGiveExactlyTheScoresOfOneCall) {
  std::mt19937_64 rng(TestSeed());
  const size_t n = 50 + rng() % 200;
  const std::vector<float> logits = RandomLogits(n, rng, 4.0f);
  const std::vector<uint8_t> tokens = RandomBytes(n, rng);
  ByteScorer whole({}, true), sliced({}, true);
  ASSERT_TRUE(whole.Add(tokens, logits).ok());
  for (size_t at = 0; at < n;) {
    const size_t len = std::min(n - at, 1 + rng() % 17);
    ASSERT_TRUE(sliced
                    .Add(absl::MakeConstSpan(tokens).subspan(at, len),
                         absl::MakeConstSpan(logits).subspan(at * kVocab, len * kVocab))
                    .ok());
    at += len;
  }
  // Same rows, same order of accumulation: bit for bit.
  EXPECT_EQ(sliced.scores().sum_logprob, whole.scores().sum_logprob);
  EXPECT_EQ(sliced.scores().scored_bytes, whole.scores().scored_bytes);
  EXPECT_EQ(sliced.scores().byte_logprobs, whole.scores().byte_logprobs);
  EXPECT_FALSE(sliced.scores().first_byte_scored);
}

TEST(ByteScorerTest, PerByteValuesOnlyWhenAsked) {
  std::mt19937_64 rng(TestSeed());
  const std::vector<float> logits = RandomLogits(5, rng, 1.0f);
  ByteScorer scorer({}, /*per_byte=*/false);
  ASSERT_TRUE(scorer.Add(RandomBytes(5, rng), logits).ok());
  EXPECT_EQ(scorer.scores().scored_bytes, 4);
  EXPECT_TRUE(scorer.scores().byte_logprobs.empty());
}

TEST(ByteScorerTest, ShapeMismatchIsAnErrorAndChangesNothing) {
  std::mt19937_64 rng(TestSeed());
  const std::vector<float> previous = RandomLogits(1, rng, 1.0f);
  ByteScorer scorer(previous, true);
  const std::vector<uint8_t> tokens = RandomBytes(3, rng);
  std::vector<float> short_rows(3 * kVocab - 1);
  EXPECT_EQ(scorer.Add(tokens, short_rows).code(), absl::StatusCode::kInternal);
  std::vector<float> small_vocab(3 * 16);
  const std::vector<uint8_t> low = {1, 2, 3};
  // 16-entry rows disagree with the 256-entry previous distribution.
  EXPECT_EQ(scorer.Add(low, small_vocab).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(scorer.scores().scored_bytes, 0);
  EXPECT_EQ(scorer.next_logits().size(), size_t{kVocab});
  ByteScorer fresh({}, false);
  const std::vector<uint8_t> high = {1, 200};
  std::vector<float> tiny_vocab(2 * 16);
  EXPECT_EQ(fresh.Add(high, tiny_vocab).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace hecate
