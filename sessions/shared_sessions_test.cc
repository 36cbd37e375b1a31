#include "sessions/shared_sessions.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint_test_util.h"

namespace hecate {
namespace {

// Two replicas (a store and its SharedSessions each) over one shared root.
class SharedSessionsTest : public ::testing::Test {
 protected:
  struct Replica {
    std::unique_ptr<SessionStore> store;
    std::unique_ptr<SharedSessions> shared;
  };

  SharedSessionsTest()
      : rng_(TestSeed()),
        backend_(MakeCpuBackend(testing::MicroModel(rng_()))),
        root_(TestTempDir("shared")) {}

  Replica Open(const std::string& name) {
    SessionStoreOptions options;
    options.state_dir = TestTempPath(name);
    options.host_tier = false;
    Replica replica;
    replica.store = *SessionStore::Open(*backend_, options);
    SharedSessionsOptions shared;
    shared.root = root_;
    shared.replica_id = name;
    absl::StatusOr<std::unique_ptr<SharedSessions>> opened =
        SharedSessions::Open(replica.store.get(), shared);
    EXPECT_TRUE(opened.ok()) << opened.status();
    replica.shared = *std::move(opened);
    return replica;
  }

  // A session created on `replica` as CreateSession does it, fed `n` bytes;
  // returns its id and sets `*logits` to its next-byte logits.
  std::string CreateAndFeed(Replica& replica, size_t n, std::vector<float>* logits) {
    const std::string id = *NewSessionId();
    EXPECT_TRUE(replica.shared->Reserve(id, "alice").ok());
    EXPECT_TRUE(replica.store->Create("alice", id).ok());
    EXPECT_TRUE(replica.shared->Track(id, "alice").ok());
    std::vector<uint8_t> tokens(n);
    for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
    EXPECT_TRUE(replica.store
                    ->WithSession(id, "alice",
                                  [&](SessionLease& lease) {
                                    return replica.store->ApplyChunk(lease, tokens,
                                                                     LogitsMode::kLast, logits);
                                  })
                    .ok());
    return id;
  }

  std::vector<float> NextLogits(SessionStore& store, const std::string& id) {
    std::vector<float> logits;
    EXPECT_TRUE(store.WithSession(id, "alice", [&](SessionLease& lease) {
      logits = lease.next_logits();
      return absl::OkStatus();
    }).ok());
    return logits;
  }

  std::mt19937_64 rng_;
  std::unique_ptr<Backend> backend_;
  std::string root_;
};

TEST_F(SharedSessionsTest, StoreCreatesProposedIds) {
  Replica a = Open("a");
  const std::string id = *NewSessionId();
  ASSERT_TRUE(a.store->Create("alice", id).ok());
  EXPECT_EQ(a.store->Get(id, "alice")->id, id);
  EXPECT_TRUE(absl::IsAlreadyExists(a.store->Create("bob", id).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(a.store->Create("alice", "ABC").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(a.store->Create("alice", id + "0").status()));
}

TEST_F(SharedSessionsTest, AnIdIsTakenOnEveryReplica) {
  Replica a = Open("a");
  Replica b = Open("b");
  const std::string id = *NewSessionId();
  ASSERT_TRUE(a.shared->Reserve(id, "alice").ok());
  EXPECT_TRUE(absl::IsAlreadyExists(b.shared->Reserve(id, "alice")));
  EXPECT_TRUE(absl::IsAlreadyExists(b.shared->Reserve(id, "bob")));
  EXPECT_TRUE(absl::IsInvalidArgument(b.shared->Reserve("../x", "alice")));
  // Forgotten (deleted), the id is free again.
  a.shared->Forget(id, "alice");
  EXPECT_TRUE(b.shared->Reserve(id, "alice").ok());
}

TEST_F(SharedSessionsTest, DrainedSessionIsAdoptedWithPulseAndLogits) {
  Replica a = Open("a");
  Replica b = Open("b");
  std::vector<float> logits;
  const std::string id = CreateAndFeed(a, 37, &logits);
  ASSERT_TRUE(a.store->CheckpointAll().ok());
  ASSERT_EQ(*a.shared->PublishDrained(), 1);

  // Another user asking is told exactly what a missing session says.
  absl::StatusOr<std::optional<uint64_t>> bob = b.shared->EnsureHere(id, "bob");
  ASSERT_TRUE(absl::IsNotFound(bob.status())) << bob.status();
  EXPECT_EQ(bob.status().message(), b.store->Get(id, "bob").status().message());
  EXPECT_TRUE(absl::IsNotFound(b.shared->EnsureHere(*NewSessionId(), "alice").status()));

  absl::StatusOr<std::optional<uint64_t>> adopted = b.shared->EnsureHere(id, "alice");
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  ASSERT_TRUE(adopted->has_value());
  EXPECT_EQ(**adopted, 37u);
  EXPECT_EQ(b.store->Get(id, "alice")->pulse_id, 37u);
  EXPECT_EQ(NextLogits(*b.store, id), logits);
  // Held now: asking again adopts nothing.
  EXPECT_FALSE(b.shared->EnsureHere(id, "alice")->has_value());
}

TEST_F(SharedSessionsTest, HeldSessionIsRefusedUntilItsHolderHandsItOver) {
  Replica a = Open("a");
  Replica b = Open("b");
  std::vector<float> logits;
  const std::string id = CreateAndFeed(a, 20, &logits);
  absl::StatusOr<std::optional<uint64_t>> refused = b.shared->EnsureHere(id, "alice");
  ASSERT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("replica a"), std::string::npos);

  // a's next tick writes the session, lets it go and releases its lease.
  a.shared->Tick(absl::Now());
  EXPECT_TRUE(absl::IsNotFound(a.store->Get(id, "alice").status()));
  absl::StatusOr<std::optional<uint64_t>> adopted = b.shared->EnsureHere(id, "alice");
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->value_or(0), 20u);
  EXPECT_EQ(NextLogits(*b.store, id), logits);
}

TEST_F(SharedSessionsTest, TickWritesWhatChangedAndAnAdopterResumesThere) {
  Replica a = Open("a");
  std::vector<float> logits;
  const std::string id = CreateAndFeed(a, 12, &logits);
  a.shared->Tick(absl::Now());  // first tick: checkpoint at pulse 12
  // a "crashes" (its lease is released here, as if it had expired).
  a.shared->Stop();
  a.shared.reset();
  Replica b = Open("b");
  LeaseDir steal = *LeaseDir::Open(root_ + "/leases", "a", absl::Seconds(1));
  ASSERT_TRUE(steal.Acquire(id, absl::Now()).ok());  // a's own id takes it over...
  ASSERT_TRUE(steal.Release(id).ok());              // ...and lets it go
  absl::StatusOr<std::optional<uint64_t>> adopted = b.shared->EnsureHere(id, "alice");
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->value_or(0), 12u);
}

TEST_F(SharedSessionsTest, SessionCreatedButNeverWrittenResumesAtZero) {
  Replica a = Open("a");
  const std::string id = *NewSessionId();
  ASSERT_TRUE(a.shared->Reserve(id, "alice").ok());
  ASSERT_TRUE(a.store->Create("alice", id).ok());
  ASSERT_TRUE(a.shared->Track(id, "alice").ok());
  Replica b = Open("b");
  EXPECT_TRUE(absl::IsUnavailable(b.shared->EnsureHere(id, "alice").status()));  // a holds it
  // a dies before its first tick; its lease goes (as if expired).
  a.shared.reset();
  LeaseDir restarted = *LeaseDir::Open(root_ + "/leases", "a", absl::Seconds(1));
  ASSERT_TRUE(restarted.Acquire(id, absl::Now()).ok());
  ASSERT_TRUE(restarted.Release(id).ok());
  absl::StatusOr<std::optional<uint64_t>> adopted = b.shared->EnsureHere(id, "alice");
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->value_or(99), 0u);
  EXPECT_EQ(b.store->Get(id, "alice")->pulse_id, 0u);
}

TEST_F(SharedSessionsTest, AdopterKeepsFlagsChangedAfterTheLastWrite) {
  Replica a = Open("a");
  Replica b = Open("b");
  std::vector<float> logits;
  const std::string id = CreateAndFeed(a, 15, &logits);
  a.shared->Tick(absl::Now());  // written at pulse 15, unpinned
  SessionUpdate update;
  update.pinned = true;
  update.keep_on_expiry = true;
  ASSERT_TRUE(a.store->Update(id, "alice", update).ok());
  // b asks; a's next tick writes the flags (nothing else moved) and hands over.
  EXPECT_TRUE(absl::IsUnavailable(b.shared->EnsureHere(id, "alice").status()));
  a.shared->Tick(absl::Now());
  absl::StatusOr<std::optional<uint64_t>> adopted = b.shared->EnsureHere(id, "alice");
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->value_or(0), 15u);
  absl::StatusOr<SessionInfo> info = b.store->Get(id, "alice");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->pinned);
  EXPECT_TRUE(info->keep_on_expiry);
}

}  // namespace
}  // namespace hecate
