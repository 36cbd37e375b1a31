// The engine loop runs many requests' programs in shared steps: batched
// generation equals solo generation bit for bit, long inputs go in slices
// and still apply whole, a user's long upload does not hold back another
// user's generation, every session of a user gets its turn under steady
// arrivals (a slice cut short by the step's budget keeping it), and
// cancellation and shutdown roll back what is mid-chunk.
#include "server/engine_loop.h"

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "runtime/test_util.h"
#include "server/chunk_runner.h"

namespace hecate {
namespace {

class EngineLoopTest : public ::testing::Test {
 protected:
  EngineLoopTest()
      : rng_(TestSeed()),
        backend_(MakeCpuBackend(testing::SensitiveModel(testing::SmallConfig(), rng_()))),
        store_(*SessionStore::Open(*backend_, Options())),
        // One thread: completions run in the order the engine posts them, so
        // RunClosedLoop's count of chunks completed before a chunk's own is
        // the engine's order. With two, a thread preempted while holding one
        // completion let the other run dozens first (a wait of 62 measured
        // under CI load for a policy that gives at most ~34).
        completions_(1) {}

  static SessionStoreOptions Options() {
    SessionStoreOptions o;
    o.max_sessions_per_user = 64;
    o.host_tier = false;
    return o;
  }

  std::string RandomText(size_t n) {
    std::string text(n, ' ');
    for (char& c : text) c = static_cast<char>('a' + rng_() % 26);
    return text;
  }

  static v1::OutputSpec Sample(int tokens, uint64_t seed) {
    v1::OutputSpec spec;
    spec.mutable_sample()->set_max_tokens(tokens);
    spec.mutable_sample()->set_temperature(1.0f);
    spec.mutable_sample()->set_seed(seed);
    return spec;
  }

  // What a finished job reports.
  struct Finished {
    absl::StatusOr<ChunkOutcome> outcome = absl::UnknownError("not finished");
    std::vector<int> tokens;
    absl::Notification done;
  };

  // Submits `input` + `spec` for session `id` of `user` to `engine`.
  void Submit(EngineLoop& engine, const std::string& user, const std::string& id,
              const std::string& input, const v1::OutputSpec& spec, Finished* finished,
              const std::atomic<bool>* cancel = nullptr) {
    absl::StatusOr<SessionLease> lease = store_->Acquire(id, user);
    ASSERT_TRUE(lease.ok()) << lease.status();
    auto job = std::make_unique<EngineJob>();
    job->user = user;
    job->cancel = cancel;
    job->program = *ChunkProgram::Start(
        lease->pulse_id(), lease->next_logits(), input, spec, cancel,
        [finished](const GeneratedTokenEvent& e) { finished->tokens.push_back(e.token); });
    job->lease = *std::move(lease);
    job->done = [finished](std::unique_ptr<EngineJob> job) {
      finished->outcome = job->shutdown.ok() ? job->program->TakeOutcome()
                                             : absl::StatusOr<ChunkOutcome>(job->shutdown);
      job->lease.Release();
      finished->done.Notify();
    };
    engine.Submit(std::move(job));
  }

  // The same request run inline on a twin session.
  std::vector<int> RunSolo(const std::string& id, const std::string& input,
                           const v1::OutputSpec& spec) {
    SessionLease lease = *store_->Acquire(id, "solo");
    std::vector<int> tokens;
    ApplyFn apply = [&](absl::Span<const uint8_t> t, LogitsMode mode, std::vector<float>* logits,
                        const LogitRowsSink&) -> absl::StatusOr<uint64_t> {
      if (absl::Status s = store_->ApplyChunk(lease, t, mode, logits); !s.ok()) return s;
      return lease.pulse_id();
    };
    absl::StatusOr<ChunkOutcome> out =
        RunChunk(apply, lease.pulse_id(), lease.next_logits(), input, spec, nullptr,
                 [&](const GeneratedTokenEvent& e) { tokens.push_back(e.token); });
    EXPECT_TRUE(out.ok()) << out.status();
    return tokens;
  }

  // What RunClosedLoop measured.
  struct ClosedLoopResult {
    // The most chunks of other sessions completed between a chunk's
    // submission and its completion, and that chunk's size.
    int worst_wait = 0;
    size_t worst_size = 0;
  };

  // Like `hecatectl bench`: `sessions` sessions of one user each keep one
  // chunk of chunk_size(session) random bytes in flight, sending the next as
  // soon as the last is done, until 2000 chunks have been applied.
  ClosedLoopResult RunClosedLoop(EngineLoop::Options options, int sessions,
                                 const std::function<size_t(int)>& chunk_size) {
    constexpr int kChunks = 2000;
    EngineLoop engine(store_.get(), &completions_, options, nullptr);
    std::vector<std::string> ids;
    for (int i = 0; i < sessions; ++i) ids.push_back(store_->Create("u")->id);
    absl::Mutex mu;
    int sent = sessions, completed = 0;
    ClosedLoopResult result;
    absl::Status failure;
    absl::Notification all_done;
    std::function<void(int)> send = [&](int i) {
      std::string text;
      int completed_at_send;
      {
        absl::MutexLock lock(&mu);
        text = RandomText(chunk_size(i));
        completed_at_send = completed;
      }
      absl::StatusOr<SessionLease> lease = store_->Acquire(ids[i], "u");
      ASSERT_TRUE(lease.ok()) << lease.status();
      auto job = std::make_unique<EngineJob>();
      job->user = "u";
      job->program = *ChunkProgram::Start(lease->pulse_id(), lease->next_logits(), text, {},
                                          nullptr, [](const GeneratedTokenEvent&) {});
      job->lease = *std::move(lease);
      job->done = [&, i, completed_at_send, size = text.size()](std::unique_ptr<EngineJob> job) {
        absl::StatusOr<ChunkOutcome> outcome = job->program->TakeOutcome();
        job->lease.Release();
        bool again = false, last = false;
        {
          absl::MutexLock lock(&mu);
          if (!outcome.ok() && failure.ok()) failure = outcome.status();
          const int wait = completed - completed_at_send;
          if (wait > result.worst_wait) result = {wait, size};
          last = ++completed == kChunks;
          again = sent < kChunks;
          if (again) ++sent;
        }
        if (again) send(i);
        if (last) all_done.Notify();
      };
      engine.Submit(std::move(job));
    };
    for (int i = 0; i < sessions; ++i) send(i);
    all_done.WaitForNotification();
    engine.Shutdown();
    completions_.Shutdown();  // every `done` has returned
    EXPECT_TRUE(failure.ok()) << failure;
    return result;
  }

  std::mt19937_64 rng_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<SessionStore> store_;
  Executor completions_;
};

TEST_F(EngineLoopTest, BatchedGenerationEqualsSoloGeneration) {
  constexpr int kSessions = 12;
  EngineLoop engine(store_.get(), &completions_, {.max_slice_tokens = 64}, nullptr);
  std::vector<std::string> ids, twins;
  std::vector<Finished> finished(kSessions);
  std::vector<std::string> prompts;
  std::vector<v1::OutputSpec> specs;
  for (int i = 0; i < kSessions; ++i) {
    ids.push_back(store_->Create(absl::StrCat("user", i % 3))->id);
    twins.push_back(store_->Create("solo")->id);
    // One-byte prompts: every step of every session is a decode step, so the
    // batched run takes the same forward passes as the solo one.
    prompts.push_back(RandomText(1));
    specs.push_back(Sample(10 + static_cast<int>(rng_() % 30), rng_()));
  }
  for (int i = 0; i < kSessions; ++i) {
    Submit(engine, absl::StrCat("user", i % 3), ids[i], prompts[i], specs[i], &finished[i]);
  }
  for (int i = 0; i < kSessions; ++i) {
    finished[i].done.WaitForNotification();
    ASSERT_TRUE(finished[i].outcome.ok()) << finished[i].outcome.status();
    EXPECT_EQ(finished[i].tokens, RunSolo(twins[i], prompts[i], specs[i])) << "session " << i;
    EXPECT_EQ(store_->Get(ids[i], absl::StrCat("user", i % 3))->transcript_digest,
              store_->Get(twins[i], "solo")->transcript_digest);
  }
  EXPECT_EQ(engine.jobs(), 0u);
}

TEST_F(EngineLoopTest, LongInputsGoInSlicesAndApplyWhole) {
  EngineLoop engine(store_.get(), &completions_,
                    {.max_slice_tokens = 16 + rng_() % 32, .max_step_tokens = 64}, nullptr);
  constexpr int kSessions = 5;
  std::vector<std::string> ids, twins, texts;
  std::vector<Finished> finished(kSessions);
  for (int i = 0; i < kSessions; ++i) {
    ids.push_back(store_->Create(absl::StrCat("user", i % 2))->id);
    twins.push_back(store_->Create("solo")->id);
    texts.push_back(RandomText(100 + rng_() % 300));
  }
  v1::OutputSpec top_k;
  top_k.mutable_top_k()->set_k(5);
  for (int i = 0; i < kSessions; ++i) {
    Submit(engine, absl::StrCat("user", i % 2), ids[i], texts[i], top_k, &finished[i]);
  }
  for (int i = 0; i < kSessions; ++i) {
    finished[i].done.WaitForNotification();
    ASSERT_TRUE(finished[i].outcome.ok()) << finished[i].outcome.status();
    const SessionInfo got = *store_->Get(ids[i], absl::StrCat("user", i % 2));
    RunSolo(twins[i], texts[i], top_k);
    const SessionInfo want = *store_->Get(twins[i], "solo");
    EXPECT_EQ(got.pulse_id, texts[i].size());
    EXPECT_EQ(got.transcript_digest, want.transcript_digest);
    // Slices round differently from one pass: the same distribution to float noise.
    const std::vector<TokenChoice>& top = finished[i].outcome->top_k;
    ASSERT_EQ(top.size(), 5u);
    SessionLease twin = *store_->Acquire(twins[i], "solo");
    const std::vector<TokenChoice> expected = TopK(twin.next_logits(), 5);
    for (int k = 0; k < 5; ++k) EXPECT_NEAR(top[k].logprob, expected[k].logprob, 1e-4);
  }
}

TEST_F(EngineLoopTest, ALongUploadDoesNotHoldBackAnotherUsersGeneration) {
  EngineLoop engine(store_.get(), &completions_,
                    {.max_slice_tokens = 64, .max_step_tokens = 256, .min_slice_tokens = 8},
                    nullptr);
  const std::string upload_id = store_->Create("uploader")->id;
  const std::string chat_id = store_->Create("chatter")->id;
  Finished upload, chat;
  // The upload first: FIFO would apply all of it before the first token.
  Submit(engine, "uploader", upload_id, RandomText(60000), {}, &upload);
  Submit(engine, "chatter", chat_id, RandomText(1), Sample(24, rng_()), &chat);
  chat.done.WaitForNotification();
  ASSERT_TRUE(chat.outcome.ok()) << chat.outcome.status();
  EXPECT_EQ(chat.outcome->generated_tokens, 24);
  EXPECT_FALSE(upload.done.HasBeenNotified())
      << "the upload finished before the other user's 24 tokens";
  upload.done.WaitForNotification();
  ASSERT_TRUE(upload.outcome.ok()) << upload.outcome.status();
  EXPECT_EQ(store_->Get(upload_id, "uploader")->pulse_id, 60000u);
}

TEST_F(EngineLoopTest, EverySessionOfAUserIsServedInTurn) {
  // Short chunks apply in one slice, long ones in several. A long chunk must
  // get its next slice within a round of the other sessions, however many
  // new chunks keep arriving: a session's next chunk once counted as never
  // served and overtook every chunk mid-way, so long chunks waited until
  // arrivals paused (the soak's 5-minute tail).
  constexpr int kShort = 24, kSessions = kShort + 4;
  constexpr size_t kSlice = 64;
  const ClosedLoopResult result = RunClosedLoop(
      {.max_slice_tokens = kSlice, .max_step_tokens = 2 * kSlice}, kSessions, [&](int i) {
        // Never a single byte (a decode item, not a slice); long: 3-4 slices.
        return i < kShort ? 2 + rng_() % (kSlice - 1) : 2 * kSlice + 1 + rng_() % (2 * kSlice);
      });
  // Round robin: between two slices of a chunk every other session is served
  // about once (twice at a tie), so a chunk of at most 4 slices sees a few
  // per other session complete; starved, it saw hundreds.
  EXPECT_LE(result.worst_wait, 10 * kSessions)
      << "a chunk of " << result.worst_size << " bytes waited while " << result.worst_wait
      << " other chunks were completed";
}

TEST_F(EngineLoopTest, ASliceCutShortByTheBudgetKeepsItsTurn) {
  // Every chunk is one slice, and the step's budget is not a multiple of it,
  // so each step cuts one chunk short. Its job keeps its place for the rest:
  // sent to the back, it waited a second round for the last bytes of a
  // chunk the others got whole (as a chunk started beside decode work, whose
  // budget is a few tokens, did in the soak).
  constexpr int kSessions = 32;
  constexpr size_t kSlice = 64;
  const ClosedLoopResult result =
      RunClosedLoop({.max_slice_tokens = kSlice, .max_step_tokens = kSlice + 1 + rng_() % 63},
                    kSessions, [](int) { return kSlice; });
  // One round: each other session's chunk about once, and the few served
  // beside it in its last step (31-34 here; sent to the back, 60-102).
  EXPECT_LE(result.worst_wait, kSessions + kSessions / 4)
      << "a chunk waited while " << result.worst_wait << " other chunks were completed";
}

TEST_F(EngineLoopTest, CancellationAndShutdownRollBackChunksInProgress) {
  const std::string id = store_->Create("u")->id;
  const std::string other = store_->Create("u")->id;
  const SessionInfo before = *store_->Get(id, "u");
  std::atomic<bool> cancel{false};
  Finished cancelled, stopped;
  {
    EngineLoop engine(store_.get(), &completions_,
                      {.max_slice_tokens = 8, .max_step_tokens = 8}, nullptr);
    Submit(engine, "u", id, RandomText(200000), {}, &cancelled, &cancel);
    absl::SleepFor(absl::Milliseconds(20));
    cancel.store(true);
    cancelled.done.WaitForNotification();
    EXPECT_EQ(cancelled.outcome.status().code(), absl::StatusCode::kCancelled)
        << cancelled.outcome.status();
    Submit(engine, "u", other, RandomText(200000), {}, &stopped);
    absl::SleepFor(absl::Milliseconds(20));
    engine.Shutdown();
    stopped.done.WaitForNotification();
    EXPECT_EQ(stopped.outcome.status().code(), absl::StatusCode::kUnavailable)
        << stopped.outcome.status();
  }
  const SessionInfo after = *store_->Get(id, "u");
  EXPECT_EQ(after.pulse_id, before.pulse_id);
  EXPECT_EQ(after.transcript_digest, before.transcript_digest);
  EXPECT_EQ(store_->Get(other, "u")->pulse_id, 0u);
  // Rolled back, not damaged: both sessions still take chunks.
  for (const std::string& s : {id, other}) {
    SessionLease lease = *store_->Acquire(s, "u");
    const std::vector<uint8_t> bytes = {1, 2, 3};
    EXPECT_TRUE(store_->ApplyChunk(lease, bytes, LogitsMode::kNone, nullptr).ok());
  }
}

// Options::driven (the stream fuzzer's): no engine thread; Poll() steps on
// the caller's thread, and completions wait on a manual executor until its
// owner runs them. The tokens are those of a solo run; a job held at
// Shutdown is rolled back and completed UNAVAILABLE.
TEST_F(EngineLoopTest, ADrivenLoopStepsOnlyWhenPolled) {
  Executor completions(Executor::kManual);
  EngineLoop engine(store_.get(), &completions,
                    {.max_slice_tokens = 4, .max_step_tokens = 8, .driven = true}, nullptr);
  const std::string id = store_->Create("u")->id;
  const std::string twin = store_->Create("solo")->id;
  const std::string prompt = RandomText(11);
  const v1::OutputSpec spec = Sample(5, rng_());
  Finished finished;
  Submit(engine, "u", id, prompt, spec, &finished);
  EXPECT_EQ(engine.jobs(), 1u);
  int polls = 0;
  while (engine.Poll()) ++polls;
  EXPECT_GE(polls, 3 + 4);  // 11 bytes in slices of 4, then the tokens applied
  EXPECT_EQ(engine.jobs(), 0u);
  EXPECT_FALSE(finished.done.HasBeenNotified());
  EXPECT_EQ(completions.queued(), 1u);
  EXPECT_TRUE(completions.RunOne());
  EXPECT_FALSE(completions.RunOne());
  ASSERT_TRUE(finished.done.HasBeenNotified());
  ASSERT_TRUE(finished.outcome.ok()) << finished.outcome.status();
  EXPECT_EQ(finished.tokens, RunSolo(twin, prompt, spec));

  const uint64_t before = store_->Get(id, "u")->pulse_id;
  Finished stopped;
  Submit(engine, "u", id, RandomText(64), {}, &stopped);
  EXPECT_TRUE(engine.Poll());  // one slice of 4
  engine.Shutdown();
  EXPECT_FALSE(engine.Poll());
  completions.Shutdown();  // runs what was queued
  ASSERT_TRUE(stopped.done.HasBeenNotified());
  EXPECT_EQ(stopped.outcome.status().code(), absl::StatusCode::kUnavailable)
      << stopped.outcome.status();
  EXPECT_EQ(store_->Get(id, "u")->pulse_id, before);
}

}  // namespace
}  // namespace hecate
