#include "server/chunk_runner.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/cpu_backend.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

class ChunkRunnerTest : public ::testing::Test {
 protected:
  ChunkRunnerTest()
      : backend_(MakeCpuBackend(testing::SensitiveModel(testing::SmallConfig(), 5))),
        state_(*backend_->NewState()) {}

  ApplyFn Apply(BackendState* state) {
    return [this, state](absl::Span<const uint8_t> tokens, LogitsMode mode,
                         std::vector<float>* logits) -> absl::StatusOr<uint64_t> {
      ++applies_;
      absl::Status s = backend_->Forward(*state, tokens, mode, logits);
      if (!s.ok()) return s;
      return state->pulse_id();
    };
  }

  static v1::OutputSpec Sample(int max_tokens, uint64_t seed, std::string stop = "") {
    v1::OutputSpec spec;
    auto* s = spec.mutable_sample();
    s->set_temperature(1.0f);
    s->set_max_tokens(max_tokens);
    s->set_seed(seed);
    s->set_stop_bytes(stop);
    return spec;
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<BackendState> state_;
  int applies_ = 0;
  TokenSink ignore_ = [](const GeneratedTokenEvent&) {};
};

TEST_F(ChunkRunnerTest, NoOutputAppliesTheChunk) {
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, "hello world", {}, nullptr, ignore_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->pulse_id, 11u);
  EXPECT_EQ(state_->pulse_id(), 11u);
  EXPECT_EQ(out->finish_reason, v1::FINISH_REASON_CHUNK_APPLIED);
}

TEST_F(ChunkRunnerTest, TopKIsTheDistributionAfterTheChunk) {
  v1::OutputSpec spec;
  spec.mutable_top_k()->set_k(7);
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, "To be, or not", spec, nullptr, ignore_);
  ASSERT_TRUE(out.ok());
  auto fresh = *backend_->NewState();
  std::vector<float> logits;
  ASSERT_TRUE(backend_->Forward(*fresh, testing::RandomTokens(0, 0), LogitsMode::kNone, nullptr).ok());
  const std::string text = "To be, or not";
  ASSERT_TRUE(backend_->Forward(*fresh, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size()), LogitsMode::kLast, &logits).ok());
  std::vector<TokenChoice> want = TopK(logits, 7);
  ASSERT_EQ(out->top_k.size(), 7u);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(out->top_k[i].token, want[i].token);
    EXPECT_FLOAT_EQ(out->top_k[i].logprob, want[i].logprob);
  }
}

TEST_F(ChunkRunnerTest, SamplingIsDeterministicAndAppliesEveryToken) {
  std::string first, second;
  auto collect = [](std::string* s) {
    return [s](const GeneratedTokenEvent& e) { s->push_back(static_cast<char>(e.token)); };
  };
  absl::StatusOr<ChunkOutcome> a = RunChunk(Apply(state_.get()), 0, "abc", Sample(20, 99), nullptr, collect(&first));
  auto other = *backend_->NewState();
  absl::StatusOr<ChunkOutcome> b = RunChunk(Apply(other.get()), 0, "abc", Sample(20, 99), nullptr, collect(&second));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(first, second);
  EXPECT_EQ(a->generated_tokens, 20);
  EXPECT_EQ(a->finish_reason, v1::FINISH_REASON_MAX_TOKENS);
  EXPECT_EQ(a->pulse_id, 23u);
  // The session's history is input followed by output.
  auto replay = *backend_->NewState();
  const std::string history = "abc" + first;
  ASSERT_TRUE(backend_->Forward(*replay, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(history.data()), history.size()), LogitsMode::kNone, nullptr).ok());
  ModelState x(backend_->model().config()), y(backend_->model().config());
  ASSERT_TRUE(backend_->Download(*state_, x).ok());
  ASSERT_TRUE(backend_->Download(*replay, y).ok());
  EXPECT_EQ(x.pulse_id(), y.pulse_id());
  EXPECT_LT(testing::RelativeError(x.data(), y.data()), 1e-5);
}

TEST_F(ChunkRunnerTest, StopByteEndsGeneration) {
  std::string text;
  // Every byte is a stop byte: exactly one token is generated.
  std::string all(256, '\0');
  for (int i = 0; i < 256; ++i) all[i] = static_cast<char>(i);
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, "x", Sample(50, 1, all), nullptr,
                                              [&](const GeneratedTokenEvent& e) { text.push_back(char(e.token)); });
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->finish_reason, v1::FINISH_REASON_STOP_BYTE);
  EXPECT_EQ(out->generated_tokens, 1);
  EXPECT_EQ(text.size(), 1u);
}

TEST_F(ChunkRunnerTest, CancellationKeepsTheInputAndStopsGenerating) {
  std::atomic<bool> cancel{true};
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, "xyz", Sample(50, 1), &cancel, ignore_);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->finish_reason, v1::FINISH_REASON_CANCELLED);
  EXPECT_EQ(out->generated_tokens, 0);
  EXPECT_EQ(out->pulse_id, 3u);
}

TEST_F(ChunkRunnerTest, EmptyInputWithTopKIsRejectedBeforeAnyWork) {
  v1::OutputSpec spec;
  spec.mutable_top_k()->set_k(3);
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, "", spec, nullptr, ignore_);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(applies_, 0);
  EXPECT_EQ(state_->pulse_id(), 0u);
}

}  // namespace
}  // namespace hecate
