#include "server/chunk_runner.h"

#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

v1::OutputSpec Score(bool per_byte) {
  v1::OutputSpec spec;
  spec.mutable_score()->set_per_byte(per_byte);
  return spec;
}

class ChunkRunnerTest : public ::testing::Test {
 protected:
  ChunkRunnerTest()
      : backend_(MakeCpuBackend(testing::SensitiveModel(testing::SmallConfig(), 5))),
        state_(*backend_->NewState()) {}

  // Rows of kAll come in slices of at most `slice` tokens, as the store
  // hands them over.
  ApplyFn Apply(BackendState* state, size_t slice = 1 << 20) {
    return [this, state, slice](absl::Span<const uint8_t> tokens, LogitsMode mode,
                                std::vector<float>* logits,
                                const LogitRowsSink& rows) -> absl::StatusOr<uint64_t> {
      ++applies_;
      if (mode != LogitsMode::kAll) {
        absl::Status s = backend_->Forward(*state, tokens, mode, logits);
        if (!s.ok()) return s;
        return state->pulse_id();
      }
      std::vector<float> all;
      for (size_t at = 0; at < tokens.size(); at += slice) {
        absl::Span<const uint8_t> part = tokens.subspan(at, slice);
        absl::Status s = backend_->Forward(*state, part, LogitsMode::kAll, &all);
        if (s.ok()) s = rows(part, all);
        if (!s.ok()) return s;
      }
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
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, {}, "hello world", {}, nullptr, ignore_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->pulse_id, 11u);
  EXPECT_EQ(state_->pulse_id(), 11u);
  EXPECT_EQ(out->finish_reason, v1::FINISH_REASON_CHUNK_APPLIED);
}

TEST_F(ChunkRunnerTest, TopKIsTheDistributionAfterTheChunk) {
  v1::OutputSpec spec;
  spec.mutable_top_k()->set_k(7);
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, {}, "To be, or not", spec, nullptr, ignore_);
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
  absl::StatusOr<ChunkOutcome> a = RunChunk(Apply(state_.get()), 0, {}, "abc", Sample(20, 99), nullptr, collect(&first));
  auto other = *backend_->NewState();
  absl::StatusOr<ChunkOutcome> b = RunChunk(Apply(other.get()), 0, {}, "abc", Sample(20, 99), nullptr, collect(&second));
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
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, {}, "x", Sample(50, 1, all), nullptr,
                                              [&](const GeneratedTokenEvent& e) { text.push_back(char(e.token)); });
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->finish_reason, v1::FINISH_REASON_STOP_BYTE);
  EXPECT_EQ(out->generated_tokens, 1);
  EXPECT_EQ(text.size(), 1u);
}

TEST_F(ChunkRunnerTest, StopSequenceEndsGenerationWhereItsLastByteIsMade) {
  std::mt19937_64 rng(TestSeed());
  const uint64_t seed = rng();
  // Free generation first; then a sequence taken from inside it (at least
  // two tokens long) must stop a twin exactly at its first occurrence.
  std::string free_text;
  ASSERT_TRUE(RunChunk(Apply(state_.get()), 0, {}, "abc", Sample(40, seed), nullptr,
                       [&](const GeneratedTokenEvent& e) { free_text.push_back(char(e.token)); })
                  .ok());
  const size_t begin = rng() % 20;
  const std::string sequence = free_text.substr(begin, 2 + rng() % 5);
  const size_t stop_at = free_text.find(sequence) + sequence.size();
  v1::OutputSpec spec = Sample(40, seed);
  spec.mutable_sample()->add_stop_sequences("never-generated-\xff\xfe");
  spec.mutable_sample()->add_stop_sequences(sequence);
  std::string text;
  auto twin = *backend_->NewState();
  absl::StatusOr<ChunkOutcome> out =
      RunChunk(Apply(twin.get()), 0, {}, "abc", spec, nullptr,
               [&](const GeneratedTokenEvent& e) { text.push_back(char(e.token)); });
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->finish_reason, v1::FINISH_REASON_STOP_SEQUENCE);
  // The sequence's bytes are streamed and applied.
  EXPECT_EQ(text, free_text.substr(0, stop_at));
  EXPECT_EQ(out->generated_tokens, static_cast<int>(stop_at));
  EXPECT_EQ(out->pulse_id, 3 + stop_at);
  EXPECT_EQ(twin->pulse_id(), 3 + stop_at);
}

TEST_F(ChunkRunnerTest, StopSequencesNeverMatchTheInput) {
  std::string free_text;
  ASSERT_TRUE(RunChunk(Apply(state_.get()), 0, {}, "abc", Sample(12, 3), nullptr,
                       [&](const GeneratedTokenEvent& e) { free_text.push_back(char(e.token)); })
                  .ok());
  // The input's last byte and the first generated one: a matcher that also
  // looked at the input would stop after one token.
  const std::string sequence = std::string("c") + free_text[0];
  const size_t found = free_text.find(sequence);
  v1::OutputSpec spec = Sample(12, 3);
  spec.mutable_sample()->add_stop_sequences(sequence);
  auto twin = *backend_->NewState();
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(twin.get()), 0, {}, "abc", spec, nullptr, ignore_);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->generated_tokens,
            found == std::string::npos ? 12 : static_cast<int>(found + sequence.size()));
}

TEST_F(ChunkRunnerTest, AlternativesAreTheTopKOfTheLogitsSampledFrom) {
  v1::OutputSpec spec = Sample(6, 17);
  spec.mutable_sample()->set_temperature(0.7f);
  spec.mutable_sample()->set_top_k_alternatives(5);
  std::vector<GeneratedTokenEvent> events;
  absl::StatusOr<ChunkOutcome> out =
      RunChunk(Apply(state_.get()), 0, {}, "hello", spec, nullptr,
               [&](const GeneratedTokenEvent& e) { events.push_back(e); });
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(events.size(), 6u);
  // Replay: the logits before each generated token, from a twin.
  auto twin = *backend_->NewState();
  std::string history = "hello";
  std::vector<float> logits;
  ASSERT_TRUE(backend_->Forward(*twin, Bytes(history), LogitsMode::kLast, &logits).ok());
  for (const GeneratedTokenEvent& e : events) {
    const std::vector<TokenChoice> want = TopK(logits, 5);
    ASSERT_EQ(e.alternatives.size(), 5u);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(e.alternatives[i].token, want[i].token);
      EXPECT_NEAR(e.alternatives[i].logprob, want[i].logprob, 1e-4);
    }
    // The same convention as the token's own log-probability.
    EXPECT_NEAR(e.logprob, LogSoftmax(logits)[e.token], 1e-4);
    const uint8_t token = static_cast<uint8_t>(e.token);
    ASSERT_TRUE(backend_->Forward(*twin, absl::MakeConstSpan(&token, 1), LogitsMode::kLast,
                                  &logits).ok());
  }
}

TEST_F(ChunkRunnerTest, CancellationKeepsTheInputAndStopsGenerating) {
  std::atomic<bool> cancel{true};
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, {}, "xyz", Sample(50, 1), &cancel, ignore_);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->finish_reason, v1::FINISH_REASON_CANCELLED);
  EXPECT_EQ(out->generated_tokens, 0);
  EXPECT_EQ(out->pulse_id, 3u);
}

TEST_F(ChunkRunnerTest, EmptyInputWithTopKIsRejectedBeforeAnyWork) {
  v1::OutputSpec spec;
  spec.mutable_top_k()->set_k(3);
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), 0, {}, "", spec, nullptr, ignore_);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(applies_, 0);
  EXPECT_EQ(state_->pulse_id(), 0u);
}

// The reference: every row's log-softmax straight from the backend.
std::vector<double> ReferenceLogprobs(Backend& backend, const std::string& text) {
  auto state = *backend.NewState();
  std::vector<float> logits;
  EXPECT_TRUE(backend.Forward(*state, Bytes(text), LogitsMode::kAll, &logits).ok());
  const size_t vocab = backend.model().config().vocab_size;
  std::vector<double> out;  // out[i]: log P(text[i + 1])
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    const std::vector<float> row =
        LogSoftmax(absl::MakeConstSpan(logits).subspan(i * vocab, vocab));
    out.push_back(row[static_cast<uint8_t>(text[i + 1])]);
  }
  return out;
}

std::string RandomText(std::mt19937_64& rng, size_t n) {
  std::string text(n, ' ');
  for (char& c : text) c = static_cast<char>(rng() & 0xff);
  return text;
}

TEST_F(ChunkRunnerTest, ScoreIsTheLogSoftmaxOfEachPreviousRow) {
  std::mt19937_64 rng(TestSeed());
  const std::string text = RandomText(rng, 2 + rng() % 300);
  // Slices as small as 7 rows: the scorer must carry rows across them.
  absl::StatusOr<ChunkOutcome> out =
      RunChunk(Apply(state_.get(), 7), 0, {}, text, Score(true), nullptr, ignore_);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->score.has_value());
  EXPECT_EQ(out->pulse_id, text.size());
  EXPECT_FALSE(out->score->first_byte_scored);
  const std::vector<double> want = ReferenceLogprobs(*backend_, text);
  ASSERT_EQ(out->score->scored_bytes, static_cast<int64_t>(want.size()));
  ASSERT_EQ(out->score->byte_logprobs.size(), want.size());
  double sum = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(out->score->byte_logprobs[i], want[i], 1e-5 * std::max(1.0, -want[i])) << i;
    sum += want[i];
  }
  EXPECT_NEAR(out->score->sum_logprob, sum, 1e-5 * -sum);
  EXPECT_TRUE(out->top_k.empty());
}

TEST_F(ChunkRunnerTest, ScoreUsesTheDistributionBeforeTheChunk) {
  std::mt19937_64 rng(TestSeed());
  const std::string text = RandomText(rng, 20 + rng() % 100);
  const size_t cut = 1 + rng() % (text.size() - 1);
  // Score the tail of the text with the head's last logits: the same
  // numbers as scoring the whole text, from byte `cut` on.
  std::vector<float> head_logits;
  ASSERT_TRUE(backend_->Forward(*state_, Bytes(text.substr(0, cut)), LogitsMode::kLast,
                                &head_logits).ok());
  absl::StatusOr<ChunkOutcome> out = RunChunk(Apply(state_.get()), cut, head_logits,
                                              text.substr(cut), Score(true), nullptr, ignore_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->score->first_byte_scored);
  ASSERT_EQ(out->score->scored_bytes, static_cast<int64_t>(text.size() - cut));
  const std::vector<double> want = ReferenceLogprobs(*backend_, text);
  for (size_t i = 0; i < text.size() - cut; ++i) {
    EXPECT_NEAR(out->score->byte_logprobs[i], want[cut - 1 + i],
                1e-5 * std::max(1.0, -want[cut - 1 + i])) << i;
  }
}

TEST_F(ChunkRunnerTest, ScoreWithoutPerByteSendsOnlyTheSum) {
  absl::StatusOr<ChunkOutcome> out =
      RunChunk(Apply(state_.get()), 0, {}, "abcdef", Score(false), nullptr, ignore_);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->score->scored_bytes, 5);
  EXPECT_TRUE(out->score->byte_logprobs.empty());
  EXPECT_LT(out->score->sum_logprob, 0.0);
}

TEST_F(ChunkRunnerTest, EmptyInputWithScoreIsRejectedBeforeAnyWork) {
  absl::StatusOr<ChunkOutcome> out =
      RunChunk(Apply(state_.get()), 0, {}, "", Score(true), nullptr, ignore_);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("score"), std::string::npos) << out.status();
  EXPECT_EQ(applies_, 0);
  EXPECT_EQ(state_->pulse_id(), 0u);
}

}  // namespace
}  // namespace hecate
