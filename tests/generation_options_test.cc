// Stop sequences and top-k alternatives end to end (issue 15 item 6):
// a multi-byte stop sequence whose bytes arrive in separate token responses
// stops generation where its last byte is made (both included in the
// continuation and applied to the session); the alternatives of each
// generated token carry the same log-probabilities that scoring the same
// history gives; limits are INVALID_ARGUMENT and change nothing.
#include <random>

#include "base/test_seed.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

constexpr char kPrompt[] = "KING RICHARD III:\nNow is the winter of our discontent\n";

class GenerationOptionsTest : public E2eTest {
 protected:
  void SetUp() override {
    StartDaemon();
    rng_.seed(TestSeed());
    seed_ = rng_();
    // Scoring runs a chunk, generation one token at a time: the same within
    // float rounding on the CPU, GEMM rounding on CUDA (docs/MODEL.md 6).
    absl::StatusOr<v1::ModelInfo> info = alice_->GetModelInfo();
    ASSERT_TRUE(info.ok()) << info.status();
    const bool loose = info->tf32() || info->weight_format() == "bf16";
    tolerance_ = info->backend() == "cpu" ? 1e-4 : loose ? 3e-2 : 1e-3;
  }

  // Samples after kPrompt in a fresh session through Stream; every token
  // response is kept.
  std::vector<v1::StreamResponse> Sample(const v1::SamplingParams& params,
                                         v1::StreamResponse* done) {
    const std::string id = alice_->CreateSession()->id();
    std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
    v1::StreamRequest request;
    request.set_session_id(id);
    request.set_input(kPrompt);
    *request.mutable_output()->mutable_sample() = params;
    std::vector<v1::StreamResponse> tokens;
    absl::StatusOr<v1::StreamResponse> last =
        stream->Call(request, [&](const v1::StreamResponse& r) { tokens.push_back(r); });
    EXPECT_TRUE(last.ok()) << last.status();
    if (last.ok()) *done = *last;
    EXPECT_TRUE(stream->Finish().ok());
    return tokens;
  }

  static std::string TextOf(const std::vector<v1::StreamResponse>& tokens) {
    std::string text;
    for (const auto& r : tokens) text.push_back(static_cast<char>(r.token().token()));
    return text;
  }

  v1::SamplingParams Params(int max_tokens) {
    v1::SamplingParams params;
    params.set_temperature(1.0f);
    params.set_seed(seed_);
    params.set_max_tokens(max_tokens);
    return params;
  }

  std::mt19937_64 rng_;
  uint64_t seed_ = 0;  // of the sampler
  double tolerance_ = 1e-4;
};

TEST_F(GenerationOptionsTest, AStopSequenceSpanningTokenResponsesStopsGeneration) {
  v1::StreamResponse free_done;
  const std::string free_text = TextOf(Sample(Params(60), &free_done));
  ASSERT_EQ(free_text.size(), 60u);
  // A sequence of 2..5 bytes from inside the free continuation: its bytes
  // are separate token responses, so it spans reply boundaries.
  const std::string sequence = free_text.substr(rng_() % 40, 2 + rng_() % 4);
  const size_t stop = free_text.find(sequence) + sequence.size();
  v1::SamplingParams params = Params(60);
  params.add_stop_sequences(std::string("\xff\xfe\xfd never", 9));
  params.add_stop_sequences(sequence);
  v1::StreamResponse done;
  const std::vector<v1::StreamResponse> tokens = Sample(params, &done);
  EXPECT_EQ(done.done().finish_reason(), v1::FINISH_REASON_STOP_SEQUENCE);
  EXPECT_EQ(TextOf(tokens), free_text.substr(0, stop));  // ends with the sequence
  EXPECT_EQ(done.done().generated_tokens(), static_cast<int>(stop));
  EXPECT_EQ(done.pulse_id(), sizeof(kPrompt) - 1 + stop);  // and it is applied

  // Generate stops the same way.
  v1::GenerateRequest request;
  request.set_prompt(kPrompt);
  *request.mutable_sampling() = params;
  std::string generated;
  absl::StatusOr<GenerateResult> result = alice_->Generate(
      request, [&](const v1::GeneratedToken& t, uint64_t) { generated.push_back(char(t.token())); });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->done.finish_reason(), v1::FINISH_REASON_STOP_SEQUENCE);
  EXPECT_EQ(generated, free_text.substr(0, stop));
  // The callback-thread form (hecatectl bench's) reads the same call.
  std::string on_callbacks;
  absl::StatusOr<GenerateResult> again = alice_->GenerateOnCallbackThreads(
      request,
      [&](const v1::GeneratedToken& t, uint64_t) { on_callbacks.push_back(char(t.token())); });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->done.finish_reason(), v1::FINISH_REASON_STOP_SEQUENCE);
  EXPECT_EQ(again->pulse_id, result->pulse_id);
  EXPECT_EQ(on_callbacks, generated);
}

TEST_F(GenerationOptionsTest, AlternativesMatchTheScoresOfTheSameHistory) {
  constexpr int kAlternatives = 5;
  v1::SamplingParams params = Params(12);
  params.set_temperature(0.7f);  // alternatives are untempered whatever this is
  params.set_top_k_alternatives(kAlternatives);
  v1::StreamResponse done;
  const std::vector<v1::StreamResponse> tokens = Sample(params, &done);
  ASSERT_EQ(tokens.size(), 12u);
  const std::string prompt = kPrompt;
  const std::string history = prompt + TextOf(tokens);
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  // Scoring the whole history once: the sampled tokens' own log-probs.
  const std::string twin = alice_->CreateSession()->id();
  v1::StreamRequest score;
  score.set_session_id(twin);
  score.set_input(history);
  score.mutable_output()->mutable_score()->set_per_byte(true);
  absl::StatusOr<v1::StreamResponse> scored = stream->Call(score);
  ASSERT_TRUE(scored.ok()) << scored.status();
  const auto& per_byte = scored->done().score().byte_logprobs();  // per_byte[i]: byte i + 1
  for (size_t i = 0; i < tokens.size(); ++i) {
    const v1::GeneratedToken& t = tokens[i].token();
    const float want = per_byte[static_cast<int>(prompt.size() + i - 1)];
    EXPECT_NEAR(t.logprob(), want, tolerance_) << i;
    ASSERT_EQ(t.alternatives_size(), kAlternatives);
    for (int k = 0; k < kAlternatives; ++k) {
      EXPECT_LE(t.alternatives(k).logprob(), 0.0f);
      if (k > 0) {
        EXPECT_GE(t.alternatives(k - 1).logprob(), t.alternatives(k).logprob());
      }
      if (t.alternatives(k).token() == t.token()) {
        EXPECT_NEAR(t.alternatives(k).logprob(), want, tolerance_);
      }
    }
  }
  // Every alternative at a few positions, scored as the byte after the same
  // history in a fresh session.
  for (size_t i : {size_t{0}, size_t{5}, tokens.size() - 1}) {
    for (const v1::TokenLogProb& alternative : tokens[i].token().alternatives()) {
      const std::string id = alice_->CreateSession()->id();
      score.set_session_id(id);
      score.set_input(history.substr(0, prompt.size() + i) +
                      static_cast<char>(alternative.token()));
      absl::StatusOr<v1::StreamResponse> r = stream->Call(score);
      ASSERT_TRUE(r.ok()) << r.status();
      const auto& lp = r->done().score().byte_logprobs();
      EXPECT_NEAR(alternative.logprob(), lp[lp.size() - 1], tolerance_)
          << i << " " << alternative.token();
      ASSERT_TRUE(alice_->DeleteSession(id).ok());
    }
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GenerationOptionsTest, LimitsAreInvalidArgumentAndChangeNothing) {
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  auto call = [&](const v1::SamplingParams& params) {
    v1::StreamRequest request;
    request.set_session_id(id);
    request.set_input("abc");
    *request.mutable_output()->mutable_sample() = params;
    return stream->Call(request).status();
  };
  v1::SamplingParams many = Params(5);
  for (int i = 0; i < 17; ++i) many.add_stop_sequences("s" + std::to_string(i));
  absl::Status status = call(many);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("stop_sequences has 17"), std::string::npos) << status;
  v1::SamplingParams empty = Params(5);
  empty.add_stop_sequences("ok");
  empty.add_stop_sequences("");
  status = call(empty);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("stop_sequences[1]"), std::string::npos) << status;
  v1::SamplingParams longer = Params(5);
  longer.add_stop_sequences(std::string(65, 'x'));
  EXPECT_EQ(call(longer).code(), absl::StatusCode::kInvalidArgument);
  v1::SamplingParams alternatives = Params(5);
  alternatives.set_top_k_alternatives(21);
  status = call(alternatives);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("top_k_alternatives"), std::string::npos) << status;
  alternatives.set_top_k_alternatives(-1);
  EXPECT_EQ(call(alternatives).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(alice_->GetSession(id)->pulse_id(), 0u);
  // At the limits it runs.
  v1::SamplingParams most = Params(3);
  for (int i = 0; i < 16; ++i) most.add_stop_sequences(std::string(64, static_cast<char>('a' + i)));
  most.set_top_k_alternatives(20);
  EXPECT_TRUE(call(most).ok());
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace hecate::testing
