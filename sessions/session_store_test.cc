#include "sessions/session_store.h"

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/recording_store_observer.h"

namespace hecate {
namespace {

std::vector<uint8_t> RandomTokens(size_t n, std::mt19937_64& rng) {
  std::vector<uint8_t> tokens(n);
  for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng());
  return tokens;
}

// The CPU backend, except that Forward can be told to stop part-way through
// a chunk (after applying some tokens) and fail with a chosen code, as a
// cancelled or broken device would.
class FaultyBackend : public Backend {
 public:
  explicit FaultyBackend(std::shared_ptr<const Model> model)
      : cpu_(MakeCpuBackend(std::move(model))) {}

  void FailNextForward(size_t after_tokens, absl::StatusCode code) {
    fail_ = true;
    fail_after_ = after_tokens;
    fail_code_ = code;
  }

  std::string name() const override { return cpu_->name(); }
  const Model& model() const override { return cpu_->model(); }
  absl::StatusOr<std::unique_ptr<BackendState>> NewState() override {
    ++states_made_;
    return cpu_->NewState();
  }
  int states_made() const { return states_made_.load(); }
  absl::Status Upload(const ModelState& host, BackendState& state) override {
    return cpu_->Upload(host, state);
  }
  absl::Status Download(const BackendState& state, ModelState& host) override {
    return cpu_->Download(state, host);
  }
  absl::Status Forward(BackendState& state, absl::Span<const uint8_t> tokens, LogitsMode mode,
                       std::vector<float>* logits, const std::atomic<bool>* cancel,
                       size_t* applied) override {
    if (!fail_) return cpu_->Forward(state, tokens, mode, logits, cancel, applied);
    fail_ = false;
    const size_t n = std::min(fail_after_, tokens.size());
    absl::Status s = cpu_->Forward(state, tokens.first(n), LogitsMode::kNone, nullptr);
    if (!s.ok()) return s;
    if (applied != nullptr) *applied = n;
    return absl::Status(fail_code_, absl::StrCat("injected failure after ", n, " tokens"));
  }

 private:
  std::unique_ptr<Backend> cpu_;
  bool fail_ = false;
  size_t fail_after_ = 0;
  absl::StatusCode fail_code_ = absl::StatusCode::kOk;
  std::atomic<int> states_made_{0};
};

class SessionStoreTest : public ::testing::Test {
 protected:
  SessionStoreTest()
      : rng_(TestSeed()),
        model_(testing::MicroModel(rng_())),
        backend_(model_) {}

  std::unique_ptr<SessionStore> OpenStore(SessionStoreOptions options = {}) {
    if (options.state_dir.empty()) options.state_dir = TestTempPath("store");
    options.host_tier = false;
    if (options.observer == nullptr) options.observer = &seen_;
    absl::StatusOr<std::unique_ptr<SessionStore>> store = SessionStore::Open(backend_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(*store);
  }

  // Applies a random chunk of `n` tokens; returns the last-token logits.
  std::vector<float> Apply(SessionStore& store, const std::string& id, const std::string& owner,
                           const std::vector<uint8_t>& tokens) {
    std::vector<float> logits;
    absl::Status s = store.WithSession(id, owner, [&](SessionLease& lease) {
      return store.ApplyChunk(lease, tokens, LogitsMode::kLast, &logits);
    });
    EXPECT_TRUE(s.ok()) << s;
    return logits;
  }

  std::string ExportBytes(SessionStore& store, const std::string& id, const std::string& owner) {
    absl::StatusOr<ExportedCheckpoint> exported = store.Export(id, owner);
    EXPECT_TRUE(exported.ok()) << exported.status();
    return exported.ok() ? exported->bytes : std::string();
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  FaultyBackend backend_;
  RecordingStoreObserver seen_;  // every store a test opens reports here
};

TEST_F(SessionStoreTest, CreateGetListDelete) {
  auto store = OpenStore();
  absl::StatusOr<SessionInfo> a = store->Create("alice");
  absl::StatusOr<SessionInfo> b = store->Create("alice");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(ValidateSessionId(a->id).ok());
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(a->pulse_id, 0u);
  EXPECT_EQ(a->owner, "alice");
  EXPECT_EQ(a->model_fingerprint, model_->fingerprint());
  EXPECT_EQ(a->residency, Residency::kDevice);
  EXPECT_EQ(a->state_bytes, StateLayout(model_->config()).total_bytes());
  EXPECT_EQ(store->Get(a->id, "alice")->id, a->id);
  std::vector<SessionInfo> listed = store->List("alice");
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, a->id);  // oldest first
  EXPECT_EQ(listed[1].id, b->id);
  ASSERT_TRUE(store->Delete(a->id, "alice").ok());
  EXPECT_TRUE(absl::IsNotFound(store->Get(a->id, "alice").status()));
  EXPECT_TRUE(absl::IsNotFound(store->Delete(a->id, "alice")));
  EXPECT_EQ(store->List("alice").size(), 1u);
  EXPECT_EQ(seen_.Sessions(), 1u);
}

TEST_F(SessionStoreTest, AnotherUsersSessionIsIndistinguishableFromAMissingOne) {
  auto store = OpenStore();
  const std::string id = store->Create("alice")->id;
  const std::string missing = *NewSessionId();
  auto same_as_missing = [&](const absl::Status& s, const std::string& queried) {
    EXPECT_TRUE(absl::IsNotFound(s)) << s;
    EXPECT_EQ(s.message(), absl::StrCat("session ", queried, " not found"));
  };
  for (const std::string& queried : {id, missing}) {
    same_as_missing(store->Get(queried, "bob").status(), queried);
    same_as_missing(store->Acquire(queried, "bob").status(), queried);
    same_as_missing(store->Delete(queried, "bob"), queried);
    same_as_missing(store->Export(queried, "bob").status(), queried);
    const std::string bytes = ExportBytes(*store, id, "alice");
    same_as_missing(store->RestoreFromBytes("bob", bytes, std::nullopt, queried).status(), queried);
  }
  EXPECT_TRUE(store->List("bob").empty());
  EXPECT_TRUE(store->Get(id, "alice").ok());  // untouched by bob's attempts
}

TEST_F(SessionStoreTest, MalformedIdsAndUsersAreInvalidArgument) {
  auto store = OpenStore();
  EXPECT_TRUE(absl::IsInvalidArgument(store->Get("xyz", "alice").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Create("../alice").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Create("").status()));
  EXPECT_EQ(seen_.Sessions(), 0u);
}

TEST_F(SessionStoreTest, LimitsNameTheLimit) {
  SessionStoreOptions options;
  options.max_sessions_per_user = 2;
  options.max_sessions_total = 3;
  auto store = OpenStore(options);
  const std::string a1 = store->Create("alice")->id;
  ASSERT_TRUE(store->Create("alice").ok());
  absl::StatusOr<SessionInfo> third = store->Create("alice");
  EXPECT_TRUE(absl::IsResourceExhausted(third.status()));
  EXPECT_EQ(third.status().message(), "session limit per user (2) reached");
  ASSERT_TRUE(store->Create("bob").ok());
  absl::StatusOr<SessionInfo> fourth = store->Create("carol");
  EXPECT_EQ(fourth.status().message(), "session limit in total (3) reached");
  // A restore into a new session counts too, and is refused before anything changes.
  const std::string bytes = ExportBytes(*store, a1, "alice");
  EXPECT_TRUE(absl::IsResourceExhausted(
      store->RestoreFromBytes("alice", bytes, std::nullopt).status()));
  ASSERT_TRUE(store->Delete(a1, "alice").ok());
  EXPECT_TRUE(store->Create("alice").ok());
  EXPECT_EQ(seen_.Sessions(), 3u);
}

TEST_F(SessionStoreTest, OneWriterAtATime) {
  auto store = OpenStore();
  const std::string id = store->Create("alice")->id;
  absl::StatusOr<SessionLease> lease = store->Acquire(id, "alice");
  ASSERT_TRUE(lease.ok());
  absl::StatusOr<SessionLease> second = store->Acquire(id, "alice");
  EXPECT_TRUE(absl::IsAborted(second.status())) << second.status();
  EXPECT_NE(second.status().message().find("is busy"), absl::string_view::npos);
  EXPECT_TRUE(absl::IsAborted(store->Delete(id, "alice")));
  EXPECT_TRUE(absl::IsAborted(store->Export(id, "alice").status()));
  EXPECT_TRUE(store->Get(id, "alice").ok());  // reading metadata never blocks
  lease->Release();
  EXPECT_TRUE(store->Acquire(id, "alice").ok());
}

TEST_F(SessionStoreTest, WaitingWriterProceedsWhenTheLeaseIsReleased) {
  SessionStoreOptions options;
  options.wait_for_lock = true;
  auto store = OpenStore(options);
  const std::string id = store->Create("alice")->id;
  absl::StatusOr<SessionLease> lease = store->Acquire(id, "alice");
  ASSERT_TRUE(lease.ok());
  const std::vector<uint8_t> tokens = RandomTokens(5, rng_);
  absl::Status waited = absl::UnknownError("not run");
  std::thread writer([&] {
    waited = store->WithSession(id, "alice", [&](SessionLease& l) {
      return store->ApplyChunk(l, tokens, LogitsMode::kNone, nullptr);
    });
  });
  lease->Release();
  writer.join();
  EXPECT_TRUE(waited.ok()) << waited;
  EXPECT_EQ(store->Get(id, "alice")->pulse_id, 5u);
}

TEST_F(SessionStoreTest, ChunksAdvanceLikeTheBackendAndCountTokens) {
  auto store = OpenStore();
  const std::string id = store->Create("alice")->id;
  const std::vector<uint8_t> prompt = RandomTokens(1 + rng_() % 40, rng_);
  const std::vector<float> logits = Apply(*store, id, "alice", prompt);
  // The same tokens on a bare backend state.
  std::unique_ptr<Backend> cpu = MakeCpuBackend(model_);
  auto state = *cpu->NewState();
  std::vector<float> expected;
  ASSERT_TRUE(cpu->Forward(*state, prompt, LogitsMode::kLast, &expected).ok());
  EXPECT_EQ(logits, expected);
  ASSERT_TRUE(store->WithSession(id, "alice", [&](SessionLease& lease) {
    return store->ApplyChunk(lease, RandomTokens(3, rng_), LogitsMode::kNone, nullptr, nullptr,
                             TokenSource::kGenerated);
  }).ok());
  SessionInfo info = *store->Get(id, "alice");
  EXPECT_EQ(info.pulse_id, prompt.size() + 3);
  EXPECT_EQ(info.tokens_in, prompt.size() + 3);
  EXPECT_EQ(info.tokens_out, 3u);
}

TEST_F(SessionStoreTest, CancelledOrFailedChunkLeavesTheSessionUnchanged) {
  auto store = OpenStore();
  const std::string id = store->Create("alice")->id;
  Apply(*store, id, "alice", RandomTokens(9, rng_));
  const std::string before = ExportBytes(*store, id, "alice");
  for (absl::StatusCode code : {absl::StatusCode::kCancelled, absl::StatusCode::kInternal}) {
    const std::vector<uint8_t> chunk = RandomTokens(20, rng_);
    std::atomic<bool> cancel{false};
    backend_.FailNextForward(1 + rng_() % 19, code);
    absl::Status s = store->WithSession(id, "alice", [&](SessionLease& lease) {
      return store->ApplyChunk(lease, chunk, LogitsMode::kLast, nullptr, &cancel);
    });
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_EQ(ExportBytes(*store, id, "alice"), before);
    SessionInfo info = *store->Get(id, "alice");
    EXPECT_EQ(info.pulse_id, 9u);
    EXPECT_EQ(info.tokens_in, 9u);
  }
  // Cancelled before it starts: nothing happens at all.
  std::atomic<bool> cancel{true};
  absl::Status s = store->WithSession(id, "alice", [&](SessionLease& lease) {
    return store->ApplyChunk(lease, RandomTokens(4, rng_), LogitsMode::kNone, nullptr, &cancel);
  });
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_EQ(s.message(), absl::StrCat("chunk cancelled; session ", id, " unchanged at pulse id 9"));
  EXPECT_EQ(ExportBytes(*store, id, "alice"), before);
}

TEST_F(SessionStoreTest, UnsnapshottedFailureDamagesUntilRestored) {
  auto store = OpenStore();
  const std::string id = store->Create("alice")->id;
  Apply(*store, id, "alice", RandomTokens(6, rng_));
  const std::string good = ExportBytes(*store, id, "alice");
  backend_.FailNextForward(1, absl::StatusCode::kInternal);  // one token: no snapshot
  absl::Status s = store->WithSession(id, "alice", [&](SessionLease& lease) {
    return store->ApplyChunk(lease, RandomTokens(1, rng_), LogitsMode::kNone, nullptr);
  });
  EXPECT_TRUE(absl::IsInternal(s)) << s;
  absl::StatusOr<SessionLease> lease = store->Acquire(id, "alice");
  EXPECT_TRUE(absl::IsDataLoss(lease.status())) << lease.status();
  EXPECT_TRUE(absl::IsDataLoss(store->Export(id, "alice").status()));
  ASSERT_TRUE(store->RestoreFromBytes("alice", good, 6, id).ok());
  EXPECT_EQ(ExportBytes(*store, id, "alice"), good);
}

TEST_F(SessionStoreTest, RestoredSessionContinuesBitForBit) {
  auto store = OpenStore();
  const std::string original = store->Create("alice")->id;
  const std::vector<uint8_t> first = RandomTokens(13 + rng_() % 50, rng_);
  Apply(*store, original, "alice", first);
  absl::StatusOr<ExportedCheckpoint> checkpoint = store->Export(original, "alice");
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ(checkpoint->pulse_id, first.size());
  absl::StatusOr<SessionInfo> restored =
      store->RestoreFromBytes("alice", checkpoint->bytes, first.size());
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_NE(restored->id, original);
  EXPECT_EQ(restored->pulse_id, first.size());
  const std::vector<uint8_t> next = RandomTokens(1 + rng_() % 30, rng_);
  std::vector<float> logits_a, logits_b;
  for (auto [id, logits] : {std::pair{original, &logits_a}, std::pair{restored->id, &logits_b}}) {
    ASSERT_TRUE(store->WithSession(id, "alice", [&](SessionLease& lease) {
      return store->ApplyChunk(lease, next, LogitsMode::kAll, logits);
    }).ok());
  }
  ASSERT_EQ(logits_a.size(), next.size() * 256);
  EXPECT_EQ(logits_a, logits_b);  // bitwise: float == on every element, no NaN
  EXPECT_EQ(ExportBytes(*store, original, "alice"), ExportBytes(*store, restored->id, "alice"));
}

TEST_F(SessionStoreTest, FailedRestoreChangesNothing) {
  auto store = OpenStore();
  const std::string id = store->Create("alice")->id;
  Apply(*store, id, "alice", RandomTokens(11, rng_));
  const std::string good = ExportBytes(*store, id, "alice");
  std::string corrupt = good;
  corrupt[rng_() % corrupt.size()] ^= 0x20;
  absl::StatusOr<SessionInfo> r1 = store->RestoreFromBytes("alice", corrupt, std::nullopt, id);
  EXPECT_TRUE(absl::IsDataLoss(r1.status())) << r1.status();
  absl::StatusOr<SessionInfo> r2 = store->RestoreFromBytes("alice", good, 12, id);
  EXPECT_TRUE(absl::IsFailedPrecondition(r2.status())) << r2.status();
  EXPECT_EQ(r2.status().message(), "checkpoint is at pulse id 11, but pulse id 12 was expected");
  absl::StatusOr<SessionInfo> r3 = store->RestoreFromBytes("alice", good.substr(0, 100), 11);
  EXPECT_TRUE(absl::IsDataLoss(r3.status())) << r3.status();
  EXPECT_EQ(ExportBytes(*store, id, "alice"), good);
  EXPECT_EQ(seen_.Sessions(), 1u);
  using Kind = CheckpointEvent::Kind;
  EXPECT_EQ(seen_.Count(Kind::kRestore), 3u);
  EXPECT_EQ(seen_.Count(Kind::kRestore, absl::StatusCode::kDataLoss), 2u);
  EXPECT_EQ(seen_.Count(Kind::kRestore, absl::StatusCode::kFailedPrecondition), 1u);
}

std::vector<std::string> Names(const std::vector<NamedCheckpointInfo>& infos) {
  std::vector<std::string> names;
  for (const NamedCheckpointInfo& info : infos) names.push_back(info.name);
  return names;
}

TEST_F(SessionStoreTest, NamedCheckpointsArePerUser) {
  auto store = OpenStore();
  const std::string id = store->Create("alice")->id;
  Apply(*store, id, "alice", RandomTokens(7, rng_));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Export(id, "alice", "../x").status()));
  absl::StatusOr<ExportedCheckpoint> saved = store->Export(id, "alice", "before-edit");
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->name, "before-edit");
  EXPECT_EQ(Names(*store->ListCheckpoints("alice")), std::vector<std::string>{"before-edit"});
  Apply(*store, id, "alice", RandomTokens(5, rng_));
  absl::StatusOr<SessionInfo> back = store->RestoreFromName("alice", "before-edit", 7, id);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pulse_id, 7u);
  EXPECT_EQ(ExportBytes(*store, id, "alice"), saved->bytes);
  absl::StatusOr<SessionInfo> bob = store->RestoreFromName("bob", "before-edit", std::nullopt);
  EXPECT_TRUE(absl::IsNotFound(bob.status())) << bob.status();
  EXPECT_EQ(bob.status().message(), "no checkpoint named 'before-edit'");
}

// Two replicas, each with its own state directory, sharing one checkpoint
// directory: what one stores by name, the other restores, bit for bit.
TEST_F(SessionStoreTest, SharedCheckpointDirServesEveryReplica) {
  SessionStoreOptions a_options, b_options;
  a_options.state_dir = TestTempPath("replica-a");
  b_options.state_dir = TestTempPath("replica-b");
  a_options.checkpoint_dir = b_options.checkpoint_dir = TestTempPath("shared");
  auto a = OpenStore(a_options);
  auto b = OpenStore(b_options);
  const std::string id = a->Create("alice")->id;
  Apply(*a, id, "alice", RandomTokens(9, rng_));
  absl::StatusOr<ExportedCheckpoint> saved = a->Export(id, "alice", "handoff");
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(Names(*b->ListCheckpoints("alice")), std::vector<std::string>{"handoff"});
  EXPECT_TRUE(b->ListCheckpoints("bob")->empty());
  absl::StatusOr<SessionInfo> moved = b->RestoreFromName("alice", "handoff", 9);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->pulse_id, 9u);
  EXPECT_EQ(ExportBytes(*b, moved->id, "alice"), saved->bytes);
  // The same next chunk gives the same logits on both replicas.
  const std::vector<uint8_t> next = RandomTokens(5, rng_);
  EXPECT_EQ(Apply(*a, id, "alice", next), Apply(*b, moved->id, "alice", next));
  // Session files stay per replica: drained sessions are not in the shared dir.
  ASSERT_TRUE(a->CheckpointAll().ok());
  EXPECT_FALSE(std::filesystem::exists(a_options.checkpoint_dir + "/users/alice/sessions"));
  EXPECT_TRUE(std::filesystem::exists(a_options.state_dir + "/users/alice/sessions"));
  // A checkpoint directory without a state directory is refused.
  SessionStoreOptions bad;
  bad.checkpoint_dir = a_options.checkpoint_dir;
  EXPECT_TRUE(absl::IsInvalidArgument(SessionStore::Open(backend_, bad).status()));
}

TEST_F(SessionStoreTest, BatchEqualsOneByOne) {
  auto store = OpenStore();
  const std::string a = store->Create("alice")->id, b = store->Create("bob")->id;
  const std::string a2 = store->Create("alice")->id, b2 = store->Create("bob")->id;
  const std::vector<uint8_t> ta = RandomTokens(5, rng_), tb = RandomTokens(1, rng_);
  std::vector<float> la, lb;
  {
    SessionLease lease_a = *store->Acquire(a, "alice");
    SessionLease lease_b = *store->Acquire(b, "bob");
    std::vector<ChunkRequest> batch = {{&lease_a, ta, LogitsMode::kLast, &la},
                                       {&lease_b, tb, LogitsMode::kLast, &lb}};
    ASSERT_TRUE(store->ApplyBatch(absl::MakeSpan(batch)).ok());
    std::vector<ChunkRequest> twice = {{&lease_a, ta, LogitsMode::kNone, nullptr},
                                       {&lease_a, tb, LogitsMode::kNone, nullptr}};
    EXPECT_TRUE(absl::IsInvalidArgument(store->ApplyBatch(absl::MakeSpan(twice))));
  }
  EXPECT_EQ(Apply(*store, a2, "alice", ta), la);
  EXPECT_EQ(Apply(*store, b2, "bob", tb), lb);
  EXPECT_EQ(ExportBytes(*store, a, "alice"), ExportBytes(*store, a2, "alice"));
}

TEST_F(SessionStoreTest, ChunkSnapshotSparesStayWithinTheirCap) {
  // More sessions mid-chunk at once than there are spare states: the rest
  // are snapshotted on the host. The pool once made a new state whenever it
  // was empty and kept every one it got back, so it grew to the most chunks
  // ever in flight together and held them after every session was deleted
  // (the soak kept 2.5 GB).
  SessionStoreOptions options;
  options.max_sessions_per_user = 64;
  options.max_device_chunk_snapshots = 1 + rng_() % 4;
  auto store = OpenStore(options);
  const size_t sessions = options.max_device_chunk_snapshots + 4 + rng_() % 8;
  std::vector<std::string> ids;
  for (size_t i = 0; i < sessions; ++i) ids.push_back(store->Create("alice")->id);
  const int made_before = backend_.states_made();
  for (int round = 0; round < 3; ++round) {
    std::vector<SessionLease> leases;
    std::vector<std::vector<uint8_t>> inputs;
    std::vector<SlicedChunk> chunks(sessions);
    for (size_t i = 0; i < sessions; ++i) {
      leases.push_back(*store->Acquire(ids[i], "alice"));
      inputs.push_back(RandomTokens(options.snapshot_min_tokens + rng_() % 8, rng_));
    }
    for (size_t i = 0; i < sessions; ++i) {
      ASSERT_TRUE(store->BeginChunk(leases[i], inputs[i], TokenSource::kInput, chunks[i]).ok());
    }
    // Half finish (one slice), half are abandoned: both give their snapshot back.
    std::vector<ChunkRequest> batch;
    for (size_t i = 0; i < sessions; i += 2) {
      ChunkRequest request{&leases[i], chunks[i].remaining(), LogitsMode::kNone, nullptr};
      request.sliced = &chunks[i];
      batch.push_back(std::move(request));
    }
    ASSERT_TRUE(store->ApplyBatch(absl::MakeSpan(batch)).ok());
    for (size_t i = 1; i < sessions; i += 2) {
      EXPECT_TRUE(absl::IsCancelled(store->AbandonChunk(leases[i], chunks[i])));
    }
    EXPECT_LE(backend_.states_made() - made_before,
              static_cast<int>(options.max_device_chunk_snapshots))
        << "round " << round << ": " << sessions << " chunks in flight";
  }
  for (const std::string& id : ids) EXPECT_TRUE(store->Delete(id, "alice").ok());
}

}  // namespace
}  // namespace hecate
