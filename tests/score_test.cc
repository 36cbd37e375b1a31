// Scoring end to end (hecate.v1 ScoreRequest): a daemon serving a random
// model scores text exactly as log-softmax computed from the CPU backend
// directly; chunking does not change the total (the session keeps its next-
// byte distribution between chunks, whatever they asked for, through a
// drain and restart); errors name the problem and change nothing.
// HECATE_TEST_SEED reproduces a run (model weights and texts).
#include <signal.h>

#include <cstdlib>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "runtime/model.h"
#include "runtime/sampler.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

v1::StreamRequest ScoreChunk(const std::string& session_id, const std::string& input,
                             bool per_byte = true) {
  v1::StreamRequest request;
  request.set_session_id(session_id);
  request.set_input(input);
  request.mutable_output()->mutable_score()->set_per_byte(per_byte);
  return request;
}

class ScoreTest : public E2eTest {
 protected:
  // A daemon serving random:tiny from a seed of this run, and the same model
  // here on the CPU reference backend.
  void SetUp() override {
    seed_ = TestSeed();
    rng_.seed(seed_);
    model_seed_ = seed_ % 100000 + 1;
    model_ = *LoadModel("random:tiny", model_seed_);
    reference_ = MakeCpuBackend(model_);
    StartServing();
  }

  void StartServing() {
    StartDaemon({"--model=random:tiny", absl::StrCat("--seed=", model_seed_)});
    absl::StatusOr<v1::ModelInfo> info = alice_->GetModelInfo();
    ASSERT_TRUE(info.ok()) << info.status();
    ASSERT_EQ(info->fingerprint(), model_->fingerprint()) << "the daemon serves another model";
    // docs/MODEL.md section 6: CUDA differs from the CPU reference by GEMM
    // rounding (more with TF32 or bf16 weights); the CPU reference must agree
    // to 1e-5.
    const bool loose = info->tf32() || info->weight_format() == "bf16";
    tolerance_ = info->backend() == "cpu" ? 1e-5 : loose ? 3e-2 : 1e-3;
  }

  // log P(history[i] | history[0..i)) for every i >= 1, from one forward pass
  // of the reference backend: out[i - 1].
  std::vector<double> Reference(const std::string& history) {
    auto state = *reference_->NewState();
    std::vector<float> logits;
    const auto* bytes = reinterpret_cast<const uint8_t*>(history.data());
    EXPECT_TRUE(reference_->Forward(*state, absl::MakeConstSpan(bytes, history.size()),
                                    LogitsMode::kAll, &logits)
                    .ok());
    const size_t vocab = model_->config().vocab_size;
    std::vector<double> out;
    for (size_t i = 1; i < history.size(); ++i) {
      const std::vector<float> row =
          LogSoftmax(absl::MakeConstSpan(logits).subspan((i - 1) * vocab, vocab));
      out.push_back(row[bytes[i]]);
    }
    return out;
  }

  // `got` against reference values `want` (per byte and summed).
  void ExpectScores(const v1::ChunkScore& got, absl::Span<const double> want) {
    ASSERT_EQ(got.scored_bytes(), static_cast<int64_t>(want.size()));
    ASSERT_EQ(got.byte_logprobs_size(), static_cast<int>(want.size()));
    double sum = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got.byte_logprobs(i), want[i], tolerance_ * std::max(1.0, -want[i])) << i;
      sum += want[i];
    }
    EXPECT_NEAR(got.sum_logprob(), sum, tolerance_ * -sum);
    EXPECT_LE(got.sum_logprob(), 0.0);
  }

  std::string RandomText(size_t n) {
    // Real text, with some arbitrary bytes in it.
    std::string text = Text(n, rng_());
    for (int i = 0; i < 8; ++i) text[rng_() % n] = static_cast<char>(rng_() & 0xff);
    return text;
  }

  uint64_t seed_ = 0;
  uint64_t model_seed_ = 0;
  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> reference_;
  double tolerance_ = 1e-5;
};

TEST_F(ScoreTest, ScoresAreTheLogSoftmaxOfTheModel) {
  const std::string text = RandomText(600 + rng_() % 1400);
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  absl::StatusOr<v1::StreamResponse> done = stream->Call(ScoreChunk(id, text));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->pulse_id(), text.size());
  ASSERT_TRUE(done->done().has_score());
  const v1::ChunkScore& score = done->done().score();
  EXPECT_FALSE(score.first_byte_scored()) << "a fresh session has no distribution yet";
  ExpectScores(score, Reference(text));
  EXPECT_EQ(done->done().top_k_size(), 0);
  // Without per_byte: the same sum, no values.
  const std::string other = alice_->CreateSession()->id();
  absl::StatusOr<v1::StreamResponse> sum_only = stream->Call(ScoreChunk(other, text, false));
  ASSERT_TRUE(sum_only.ok());
  EXPECT_EQ(sum_only->done().score().byte_logprobs_size(), 0);
  EXPECT_EQ(sum_only->done().score().sum_logprob(), score.sum_logprob());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ScoreTest, ChunkingDoesNotChangeTheTotal) {
  const std::string text = RandomText(800 + rng_() % 1200);
  const std::string one = alice_->CreateSession()->id();
  const std::string many = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  absl::StatusOr<v1::StreamResponse> whole = stream->Call(ScoreChunk(one, text));
  ASSERT_TRUE(whole.ok()) << whole.status();
  double total = 0;
  int64_t scored = 0;
  std::vector<float> per_byte;
  for (size_t at = 0; at < text.size();) {
    // Short chunks too: they run as decode steps in the engine's batches.
    const size_t len = std::min<size_t>(text.size() - at, 1 + rng_() % (rng_() % 2 ? 12 : 200));
    absl::StatusOr<v1::StreamResponse> part = stream->Call(ScoreChunk(many, text.substr(at, len)));
    ASSERT_TRUE(part.ok()) << part.status();
    EXPECT_EQ(part->done().score().first_byte_scored(), at > 0) << at;
    total += part->done().score().sum_logprob();
    scored += part->done().score().scored_bytes();
    for (float v : part->done().score().byte_logprobs()) per_byte.push_back(v);
    at += len;
  }
  EXPECT_EQ(scored, static_cast<int64_t>(text.size() - 1));
  const double want = whole->done().score().sum_logprob();
  EXPECT_NEAR(total, want, 1e-5 * -want);
  const std::vector<double> reference = Reference(text);
  ASSERT_EQ(per_byte.size(), reference.size());
  for (size_t i = 0; i < reference.size(); ++i) {
    EXPECT_NEAR(per_byte[i], reference[i], tolerance_ * std::max(1.0, -reference[i])) << i;
  }
  // Scored or not, a chunk advances the session exactly alike.
  const std::string plain = alice_->CreateSession()->id();
  v1::StreamRequest none = TopKRequest(plain, text, 1);
  none.mutable_output()->mutable_none();
  ASSERT_TRUE(stream->Call(none).ok());
  EXPECT_EQ(alice_->ExportCheckpoint(one)->checkpoint_data(),
            alice_->ExportCheckpoint(plain)->checkpoint_data());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ScoreTest, EveryOutputKindLeavesTheDistributionForTheNextScore) {
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  std::string history;
  // Each kind of request, then a scored chunk whose first byte must follow
  // the distribution that request's last token left.
  std::vector<std::pair<size_t, v1::ChunkScore>> scores;  // (offset, score)
  auto score_next = [&] {
    const std::string chunk = RandomText(20 + rng_() % 20);
    absl::StatusOr<v1::StreamResponse> scored = stream->Call(ScoreChunk(id, chunk));
    ASSERT_TRUE(scored.ok()) << scored.status();
    EXPECT_TRUE(scored->done().score().first_byte_scored()) << "after byte " << history.size();
    scores.emplace_back(history.size(), scored->done().score());
    history += chunk;
  };
  v1::StreamRequest none = TopKRequest(id, RandomText(50), 1);
  none.mutable_output()->mutable_none();
  ASSERT_TRUE(stream->Call(none).ok());
  history += none.input();
  score_next();
  const v1::StreamRequest top_k = TopKRequest(id, RandomText(40), 5);
  ASSERT_TRUE(stream->Call(top_k).ok());
  history += top_k.input();
  score_next();
  score_next();  // score after score
  v1::StreamRequest sample = TopKRequest(id, RandomText(3), 1);
  sample.mutable_output()->mutable_sample()->set_max_tokens(6);
  sample.mutable_output()->mutable_sample()->set_seed(rng_());
  std::string generated;
  absl::StatusOr<v1::StreamResponse> sampled =
      stream->Call(sample, [&](const v1::StreamResponse& r) {
        generated.push_back(static_cast<char>(r.token().token()));
      });
  ASSERT_TRUE(sampled.ok()) << sampled.status();
  ASSERT_EQ(generated.size(), 6u);
  history += sample.input() + generated;  // the last generated token leads
  score_next();
  const std::vector<double> reference = Reference(history);
  for (const auto& [offset, score] : scores) {
    SCOPED_TRACE(offset);
    ExpectScores(score, absl::MakeConstSpan(reference)
                            .subspan(offset - 1, static_cast<size_t>(score.scored_bytes())));
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ScoreTest, DrainAndRestartKeepTheDistributionARestoreDoesNot) {
  const std::string text = RandomText(300);
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  ASSERT_TRUE(stream->Call(TopKRequest(id, text.substr(0, 200), 3)).ok());
  EXPECT_TRUE(stream->Finish().ok());
  const std::string checkpoint = alice_->ExportCheckpoint(id)->checkpoint_data();
  absl::StatusOr<int> exit_code = daemon_->Stop(SIGTERM);
  ASSERT_TRUE(exit_code.ok() && *exit_code == 0);
  StartServing();  // same state directory
  stream = *alice_->OpenStream();
  absl::StatusOr<v1::StreamResponse> after = stream->Call(ScoreChunk(id, text.substr(200)));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->done().score().first_byte_scored());
  const std::vector<double> reference = Reference(text);
  ExpectScores(after->done().score(), absl::MakeConstSpan(reference).subspan(199));
  // A checkpoint holds the state only: a restored session starts unscored.
  v1::RestoreCheckpointRequest restore;
  restore.set_checkpoint_data(checkpoint);
  absl::StatusOr<v1::Session> restored = alice_->RestoreCheckpoint(restore);
  ASSERT_TRUE(restored.ok()) << restored.status();
  absl::StatusOr<v1::StreamResponse> fresh =
      stream->Call(ScoreChunk(restored->id(), text.substr(200)));
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE(fresh->done().score().first_byte_scored());
  ExpectScores(fresh->done().score(), absl::MakeConstSpan(reference).subspan(200));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ScoreTest, ErrorsAreNamedAndChangeNothing) {
  const std::string text = RandomText(120);
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  ASSERT_TRUE(stream->Call(TopKRequest(id, text.substr(0, 100), 1)).ok());
  const std::string before = alice_->ExportCheckpoint(id)->checkpoint_data();

  absl::StatusOr<v1::StreamResponse> empty = stream->Call(ScoreChunk(id, ""));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("score"), std::string::npos) << empty.status();
  absl::StatusOr<v1::StreamResponse> malformed = stream->Call(ScoreChunk("not-an-id", "abc"));
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string missing = "0123456789abcdef0123456789abcdef";
  absl::StatusOr<v1::StreamResponse> unknown = stream->Call(ScoreChunk(missing, "abc"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  // Bob cannot score alice's session: exactly NOT_FOUND, as for a missing id.
  std::unique_ptr<StreamSession> bobs = *bob_->OpenStream();
  absl::StatusOr<v1::StreamResponse> theirs = bobs->Call(ScoreChunk(id, "abc"));
  EXPECT_EQ(theirs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(absl::StrReplaceAll(theirs.status().message(), {{id, "ID"}}),
            absl::StrReplaceAll(unknown.status().message(), {{missing, "ID"}}));
  EXPECT_TRUE(bobs->Finish().ok());

  // Nothing moved: the state, the pulse id, and the kept distribution.
  EXPECT_EQ(alice_->GetSession(id)->pulse_id(), 100u);
  EXPECT_EQ(alice_->ExportCheckpoint(id)->checkpoint_data(), before);
  absl::StatusOr<v1::StreamResponse> next = stream->Call(ScoreChunk(id, text.substr(100)));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->done().score().first_byte_scored());
  const std::vector<double> reference = Reference(text);
  ExpectScores(next->done().score(), absl::MakeConstSpan(reference).subspan(99));
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace hecate::testing
