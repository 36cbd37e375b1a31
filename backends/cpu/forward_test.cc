// Properties of the CPU reference forward pass: chunking never changes
// results, slow levels as matrix products equal the token loop, batching
// equals one-by-one, bad calls change nothing, state stays bounded.
// (Equality with the Python oracle is tests/oracle/golden_test.)
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

using testing::RandomTokens;
using testing::RelativeError;

struct StreamRun {
  std::vector<float> logits;  // [T, V]
  ModelState state;
};

// Streams `tokens` through a fresh state in the given chunk sizes.
StreamRun Stream(Backend& backend, const std::vector<uint8_t>& tokens, const std::vector<size_t>& splits) {
  auto state = *backend.NewState();
  StreamRun run{{}, ModelState(backend.model().config())};
  size_t at = 0;
  for (size_t len : splits) {
    std::vector<float> logits;
    absl::Status s = backend.Forward(*state, absl::MakeConstSpan(tokens).subspan(at, len),
                                     LogitsMode::kAll, &logits);
    EXPECT_TRUE(s.ok()) << s;
    run.logits.insert(run.logits.end(), logits.begin(), logits.end());
    at += len;
  }
  EXPECT_EQ(at, tokens.size());
  EXPECT_TRUE(backend.Download(*state, run.state).ok());
  return run;
}

std::vector<size_t> RandomSplits(size_t total, std::mt19937_64& rng, size_t max_len) {
  std::vector<size_t> splits;
  while (total > 0) {
    size_t len = std::min<size_t>(total, 1 + rng() % max_len);
    splits.push_back(len);
    total -= len;
  }
  return splits;
}

void ExpectSameRun(const StreamRun& a, const StreamRun& b, double tol) {
  EXPECT_EQ(a.state.pulse_id(), b.state.pulse_id());
  EXPECT_LT(RelativeError(a.logits, b.logits), tol);
  for (const StateTensor& t : a.state.layout().tensors()) {
    EXPECT_LT(RelativeError(a.state.tensor(t), b.state.tensor(t)), tol) << t.name;
  }
}

TEST(ForwardTest, RandomSplitsGiveTheSameLogitsAndState) {
  auto model = testing::SensitiveModel(testing::SmallConfig(), 11);
  auto backend = MakeCpuBackend(model, {.slow_levels_as_matmul = true, .max_step_tokens = 64});
  const std::vector<uint8_t> tokens = RandomTokens(300, 12);
  const StreamRun whole = Stream(*backend, tokens, {tokens.size()});
  // Sanity: the state moved and is not trivially zero.
  EXPECT_EQ(whole.state.pulse_id(), 300u);
  EXPECT_GT(std::abs(whole.state.data()[17]) + std::abs(whole.state.data()[1000]), 0.0f);

  std::mt19937_64 rng(TestSeed());
  for (int trial = 0; trial < 4; ++trial) {
    // Split lengths straddle the window (24) and the periods (4, 16).
    std::vector<size_t> splits = RandomSplits(tokens.size(), rng, trial % 2 ? 7 : 53);
    SCOPED_TRACE(::testing::Message() << "trial " << trial << " with " << splits.size() << " chunks");
    ExpectSameRun(Stream(*backend, tokens, splits), whole, 1e-5);
  }
  ExpectSameRun(Stream(*backend, tokens, std::vector<size_t>(tokens.size(), 1)), whole, 1e-5);
}

TEST(ForwardTest, TinyConfigSplitsAgree) {
  auto model = testing::SensitiveModel(*ModelConfig::Preset("tiny"), 21);
  auto backend = MakeCpuBackend(model);
  const std::vector<uint8_t> tokens = RandomTokens(160, 22);
  std::mt19937_64 rng(TestSeed());
  ExpectSameRun(Stream(*backend, tokens, RandomSplits(tokens.size(), rng, 40)),
                Stream(*backend, tokens, {tokens.size()}), 1e-5);
}

TEST(ForwardTest, SlowLevelsAsMatrixProductsEqualTheTokenLoop) {
  auto model = testing::SensitiveModel(testing::SmallConfig(), 31);
  auto spans = MakeCpuBackend(model, {.slow_levels_as_matmul = true});
  auto loop = MakeCpuBackend(model, {.slow_levels_as_matmul = false});
  const std::vector<uint8_t> tokens = RandomTokens(200, 32);
  std::mt19937_64 rng(TestSeed());
  const std::vector<size_t> splits = RandomSplits(tokens.size(), rng, 37);
  const StreamRun a = Stream(*spans, tokens, splits), b = Stream(*loop, tokens, splits);
  ExpectSameRun(a, b, 1e-5);
  // And they are not bitwise identical: the span path really is different code.
  EXPECT_FALSE(a.state.BitwiseEquals(b.state));
}

TEST(ForwardTest, SameInputsGiveBitwiseSameResults) {
  auto model = testing::SensitiveModel(testing::SmallConfig(), 41);
  auto backend = MakeCpuBackend(model);
  const std::vector<uint8_t> tokens = RandomTokens(120, 42);
  const StreamRun a = Stream(*backend, tokens, {50, 70}), b = Stream(*backend, tokens, {50, 70});
  EXPECT_TRUE(a.state.BitwiseEquals(b.state));
  EXPECT_EQ(a.logits, b.logits);
}

TEST(ForwardTest, BatchEqualsOneByOne) {
  auto model = testing::SensitiveModel(testing::SmallConfig(), 51);
  auto backend = MakeCpuBackend(model);
  std::vector<std::unique_ptr<BackendState>> states;
  std::vector<std::vector<uint8_t>> chunks;
  std::vector<std::vector<float>> logits(3);
  std::vector<ForwardItem> items;
  for (int i = 0; i < 3; ++i) {
    states.push_back(*backend->NewState());
    chunks.push_back(RandomTokens(5 + 9 * i, 60 + i));
  }
  for (int i = 0; i < 3; ++i) {
    items.push_back({states[i].get(), chunks[i], LogitsMode::kLast, &logits[i]});
  }
  ASSERT_TRUE(backend->ForwardBatch(absl::MakeSpan(items)).ok());
  for (int i = 0; i < 3; ++i) {
    auto single = *backend->NewState();
    std::vector<float> expect;
    ASSERT_TRUE(backend->Forward(*single, chunks[i], LogitsMode::kLast, &expect).ok());
    EXPECT_EQ(logits[i], expect);
    EXPECT_EQ(states[i]->pulse_id(), chunks[i].size());
  }
}

TEST(ForwardTest, InvalidCallsLeaveTheStateUnchanged) {
  auto model = testing::SensitiveModel(testing::SmallConfig(), 61);
  auto backend = MakeCpuBackend(model);
  auto state = *backend->NewState();
  std::vector<float> logits;
  ASSERT_TRUE(backend->Forward(*state, RandomTokens(10, 62), LogitsMode::kNone, nullptr).ok());
  ModelState before(model->config()), after(model->config());
  ASSERT_TRUE(backend->Download(*state, before).ok());
  EXPECT_EQ(backend->Forward(*state, {}, LogitsMode::kLast, &logits).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend->Forward(*state, RandomTokens(3, 1), LogitsMode::kAll, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  // A state of another model's config.
  auto other = MakeCpuBackend(testing::SensitiveModel(*ModelConfig::Preset("tiny"), 1));
  auto foreign = *other->NewState();
  EXPECT_FALSE(backend->Forward(*foreign, RandomTokens(3, 1), LogitsMode::kNone, nullptr).ok());
  ASSERT_TRUE(backend->Download(*state, after).ok());
  EXPECT_TRUE(before.BitwiseEquals(after));
}

TEST(ForwardTest, CancellationStopsBetweenStepsAndReportsTheAppliedPrefix) {
  auto model = testing::SensitiveModel(testing::SmallConfig(), 71);
  auto backend = MakeCpuBackend(model, {.max_step_tokens = 16});
  auto state = *backend->NewState();
  std::atomic<bool> cancel{true};
  size_t applied = 99;
  absl::Status s = backend->Forward(*state, RandomTokens(100, 72), LogitsMode::kNone, nullptr,
                                    &cancel, &applied);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(applied, 0u);
  EXPECT_EQ(state->pulse_id(), 0u);
}

TEST(ForwardTest, LongStreamsStayFiniteAndBounded) {
  ModelConfig c = testing::SmallConfig();
  auto backend = MakeCpuBackend(testing::SensitiveModel(c, 81));
  auto state = *backend->NewState();
  std::vector<float> logits;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(backend->Forward(*state, RandomTokens(256, 82 + i), LogitsMode::kLast, &logits).ok());
  }
  ModelState host(c);
  ASSERT_TRUE(backend->Download(*state, host).ok());
  float max_abs = 0;
  for (float v : host.data()) {
    ASSERT_TRUE(std::isfinite(v));
    max_abs = std::max(max_abs, std::abs(v));
  }
  EXPECT_LT(max_abs, 1e3f);
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace hecate
