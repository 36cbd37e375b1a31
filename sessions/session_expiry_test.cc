// SessionStore::ExpireIdle with a "now" the test chooses (no clocks, no
// sleeps): an idle session past the TTL is deleted, a fresh one is not, a
// busy one never is; a keep_on_expiry session is stored as
// "expired-<id>" first and restores with the same pulse id and digest, from
// any tier; when that checkpoint cannot be stored the session stays. With a
// TTL per owner, a user with a short one loses an idle session that another
// user, on the default, keeps.
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/recording_store_observer.h"
#include "sessions/session_expiry.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

constexpr absl::Duration kTtl = absl::Hours(1);

class SessionExpiryTest : public ::testing::Test {
 protected:
  SessionExpiryTest()
      : rng_(TestSeed()), model_(testing::MicroModel(rng_())), backend_(MakeCpuBackend(model_)) {}

  std::unique_ptr<SessionStore> OpenStore(SessionStoreOptions options = {}) {
    if (options.state_dir.empty()) options.state_dir = TestTempPath("expiry");
    absl::StatusOr<std::unique_ptr<SessionStore>> store = SessionStore::Open(*backend_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(*store);
  }

  SessionInfo CreateFed(SessionStore& store, CreateOptions create = {}) {
    absl::StatusOr<SessionInfo> info = store.Create("alice", "", create);
    EXPECT_TRUE(info.ok()) << info.status();
    std::vector<uint8_t> tokens(37);
    for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
    absl::Status fed = store.WithSession(info->id, "alice", [&](SessionLease& lease) {
      std::vector<float> logits;
      return store.ApplyChunk(lease, tokens, LogitsMode::kLast, &logits);
    });
    EXPECT_TRUE(fed.ok()) << fed;
    return *store.Get(info->id, "alice");
  }

  // Far enough in the future that every session not used since is idle.
  static absl::Time Later() { return absl::Now() + 2 * kTtl; }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(SessionExpiryTest, IdleSessionIsDeletedFreshOneIsNot) {
  RecordingStoreObserver seen;
  SessionStoreOptions options;
  options.observer = &seen;
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const SessionInfo info = CreateFed(*store);
  EXPECT_FALSE(info.keep_on_expiry);

  ExpiryReport early = store->ExpireIdle(kTtl, absl::Now());
  EXPECT_EQ(early.deleted + early.kept + early.failed, 0u);
  EXPECT_TRUE(store->Get(info.id, "alice").ok());

  ExpiryReport later = store->ExpireIdle(kTtl, Later());
  EXPECT_EQ(later.deleted, 1u);
  EXPECT_EQ(later.kept, 0u);
  EXPECT_EQ(later.failed, 0u);
  ASSERT_EQ(later.expired.size(), 1u);
  EXPECT_EQ(later.expired[0].first, info.id);
  EXPECT_EQ(later.expired[0].second, "alice");
  EXPECT_EQ(seen.Expiries(ExpiryResult::kDeleted), 1u);
  EXPECT_TRUE(absl::IsNotFound(store->Get(info.id, "alice").status()));
  EXPECT_TRUE(store->ListCheckpoints("alice")->empty());
}

TEST_F(SessionExpiryTest, ZeroTtlExpiresNothing) {
  std::unique_ptr<SessionStore> store = OpenStore();
  const SessionInfo info = CreateFed(*store);
  ExpiryReport report = store->ExpireIdle(absl::ZeroDuration(), Later());
  EXPECT_EQ(report.deleted + report.kept + report.failed, 0u);
  EXPECT_TRUE(store->Get(info.id, "alice").ok());
}

TEST_F(SessionExpiryTest, KeepOnExpiryIsStoredByNameAndRestores) {
  std::unique_ptr<SessionStore> store = OpenStore();
  const SessionInfo info = CreateFed(*store, CreateOptions{.keep_on_expiry = true});
  EXPECT_TRUE(info.keep_on_expiry);
  EXPECT_GT(info.pulse_id, 0u);

  ExpiryReport report = store->ExpireIdle(kTtl, Later());
  EXPECT_EQ(report.kept, 1u);
  EXPECT_EQ(report.deleted, 0u);
  EXPECT_TRUE(absl::IsNotFound(store->Get(info.id, "alice").status()));

  absl::StatusOr<std::vector<NamedCheckpointInfo>> named = store->ListCheckpoints("alice");
  ASSERT_TRUE(named.ok()) << named.status();
  ASSERT_EQ(named->size(), 1u);
  EXPECT_EQ((*named)[0].name, ExpiryCheckpointName(info.id));
  EXPECT_EQ((*named)[0].name, "expired-" + info.id);

  absl::StatusOr<SessionInfo> restored =
      store->RestoreFromName("alice", ExpiryCheckpointName(info.id), info.pulse_id, "",
                             info.transcript_digest);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->pulse_id, info.pulse_id);
  EXPECT_EQ(restored->transcript_digest, info.transcript_digest);
}

TEST_F(SessionExpiryTest, KeepOnExpiryFromDiskTier) {
  SessionStoreOptions options;
  options.host_tier = false;
  options.device_budget_bytes = 0;  // every idle session is offloaded to disk
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const SessionInfo info = CreateFed(*store, CreateOptions{.keep_on_expiry = true});
  ASSERT_EQ(store->Get(info.id, "alice")->residency, Residency::kDisk);
  EXPECT_TRUE(store->Get(info.id, "alice")->keep_on_expiry);

  ExpiryReport report = store->ExpireIdle(kTtl, Later());
  EXPECT_EQ(report.kept, 1u);
  absl::StatusOr<SessionInfo> restored = store->RestoreFromName(
      "alice", ExpiryCheckpointName(info.id), info.pulse_id, "", info.transcript_digest);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->pulse_id, info.pulse_id);
}

TEST_F(SessionExpiryTest, BusySessionIsNeverExpired) {
  std::unique_ptr<SessionStore> store = OpenStore();
  const SessionInfo info = CreateFed(*store);
  {
    absl::StatusOr<SessionLease> lease = store->Acquire(info.id, "alice");
    ASSERT_TRUE(lease.ok()) << lease.status();
    ExpiryReport report = store->ExpireIdle(kTtl, Later());
    EXPECT_EQ(report.deleted + report.kept + report.failed, 0u);
    EXPECT_TRUE(store->Get(info.id, "alice").ok());
  }
  EXPECT_EQ(store->ExpireIdle(kTtl, Later()).deleted, 1u);
  EXPECT_TRUE(absl::IsNotFound(store->Get(info.id, "alice").status()));
}

TEST_F(SessionExpiryTest, FailedCheckpointKeepsTheSession) {
  RecordingStoreObserver seen;
  SessionStoreOptions options;
  options.checkpoint_quota_bytes_per_user = 1;  // no checkpoint fits
  options.observer = &seen;
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const SessionInfo info = CreateFed(*store, CreateOptions{.keep_on_expiry = true});

  ExpiryReport report = store->ExpireIdle(kTtl, Later());
  EXPECT_EQ(report.failed, 1u);
  EXPECT_EQ(report.kept + report.deleted, 0u);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].find(info.id), std::string::npos) << report.errors[0];
  absl::StatusOr<SessionInfo> still = store->Get(info.id, "alice");
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(still->pulse_id, info.pulse_id);
  EXPECT_TRUE(store->ListCheckpoints("alice")->empty());
  EXPECT_EQ(seen.Expiries(ExpiryResult::kFailed), 1u);
  EXPECT_EQ(seen.Expiries(ExpiryResult::kKept) + seen.Expiries(ExpiryResult::kDeleted), 0u);
}

TEST_F(SessionExpiryTest, EachOwnerHasItsOwnTtl) {
  std::unique_ptr<SessionStore> store = OpenStore();
  const SessionInfo alices = CreateFed(*store);
  absl::StatusOr<SessionInfo> bobs = store->Create("bob");
  absl::StatusOr<SessionInfo> carols = store->Create("carol");
  ASSERT_TRUE(bobs.ok() && carols.ok()) << bobs.status() << carols.status();
  // alice: a minute of her own; bob: the default hour; carol: never.
  ExpiryPolicy policy;
  policy.default_ttl = kTtl;
  policy.ttl_for_owner = [](absl::string_view owner) -> std::optional<absl::Duration> {
    if (owner == "alice") return absl::Minutes(1);
    if (owner == "carol") return absl::ZeroDuration();
    return std::nullopt;
  };
  policy.shortest_owner_ttl = [] { return std::optional<absl::Duration>(absl::Minutes(1)); };
  EXPECT_EQ(policy.TtlFor("alice"), absl::Minutes(1));
  EXPECT_EQ(policy.TtlFor("bob"), kTtl);
  EXPECT_EQ(policy.Shortest(), absl::Minutes(1));
  auto ttl_for = [&](absl::string_view owner) { return policy.TtlFor(owner); };

  // Half an hour idle: past alice's minute, within bob's hour.
  ExpiryReport report = store->ExpireIdleByOwner(ttl_for, absl::Now() + kTtl / 2);
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_TRUE(absl::IsNotFound(store->Get(alices.id, "alice").status()));
  EXPECT_TRUE(store->Get(bobs->id, "bob").ok());
  // Two hours: bob's goes too; carol's never does.
  report = store->ExpireIdleByOwner(ttl_for, Later());
  EXPECT_EQ(report.deleted, 1u);
  EXPECT_TRUE(absl::IsNotFound(store->Get(bobs->id, "bob").status()));
  EXPECT_TRUE(store->Get(carols->id, "carol").ok());
}

TEST(ExpiryPolicyTest, ShortestIsWhatCanExpireSoonest) {
  ExpiryPolicy none;
  EXPECT_FALSE(none.Shortest().has_value());
  EXPECT_EQ(none.TtlFor("anyone"), absl::ZeroDuration());
  ExpiryPolicy overrides_only;
  overrides_only.shortest_owner_ttl = [] {
    return std::optional<absl::Duration>(absl::Seconds(5));
  };
  EXPECT_EQ(overrides_only.Shortest(), absl::Seconds(5));
  ExpiryPolicy default_shorter{absl::Seconds(2), nullptr, overrides_only.shortest_owner_ttl};
  EXPECT_EQ(default_shorter.Shortest(), absl::Seconds(2));
}

TEST(ExpirySweepPeriodTest, QuarterOfTtlWithinBounds) {
  EXPECT_EQ(ExpirySweepPeriod(absl::Seconds(1)), absl::Milliseconds(250));
  EXPECT_EQ(ExpirySweepPeriod(absl::Milliseconds(1)), absl::Milliseconds(10));
  EXPECT_EQ(ExpirySweepPeriod(absl::Hours(1)), absl::Minutes(1));
}

}  // namespace
}  // namespace hecate
