// Pinned sessions under eviction pressure: a pinned session is never moved
// to disk (it stays on the device without a host tier, goes no lower than
// host with one) while unpinned ones are offloaded; the per-user pin quota
// refuses one pin too many with RESOURCE_EXHAUSTED naming it. Update sets
// the flags on a live session within the same quota, and both flags survive
// a drain and a restart (LoadFromStateDir), also when set while the session
// was on disk.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/recording_store_observer.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

class SessionPinningTest : public ::testing::Test {
 protected:
  SessionPinningTest()
      : rng_(TestSeed()), model_(testing::MicroModel(rng_())), backend_(MakeCpuBackend(model_)) {}

  std::unique_ptr<SessionStore> OpenStore(SessionStoreOptions options) {
    if (options.state_dir.empty()) options.state_dir = TestTempPath("pinning");
    absl::StatusOr<std::unique_ptr<SessionStore>> store = SessionStore::Open(*backend_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(*store);
  }

  std::string CreateFed(SessionStore& store, bool pinned, bool keep_on_expiry = false) {
    CreateOptions create;
    create.pinned = pinned;
    create.keep_on_expiry = keep_on_expiry;
    absl::StatusOr<SessionInfo> info = store.Create("alice", "", create);
    EXPECT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->pinned, pinned);
    std::vector<uint8_t> tokens(29);
    for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
    absl::Status fed = store.WithSession(info->id, "alice", [&](SessionLease& lease) {
      std::vector<float> logits;
      return store.ApplyChunk(lease, tokens, LogitsMode::kLast, &logits);
    });
    EXPECT_TRUE(fed.ok()) << fed;
    return info->id;
  }

  Residency Where(SessionStore& store, const std::string& id) {
    return store.Get(id, "alice")->residency;
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(SessionPinningTest, PinnedStaysOnDeviceWithoutHostTier) {
  SessionStoreOptions options;
  options.host_tier = false;
  options.device_budget_bytes = 0;  // every idle session is over budget
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const std::string pinned = CreateFed(*store, true);
  const std::string plain = CreateFed(*store, false);
  const std::string plain2 = CreateFed(*store, false);
  EXPECT_EQ(Where(*store, pinned), Residency::kDevice);
  EXPECT_EQ(Where(*store, plain), Residency::kDisk);
  EXPECT_EQ(Where(*store, plain2), Residency::kDisk);
  EXPECT_TRUE(store->Get(pinned, "alice")->pinned);
  EXPECT_FALSE(store->Get(plain, "alice")->pinned);
}

TEST_F(SessionPinningTest, PinnedGoesNoLowerThanHost) {
  SessionStoreOptions options;
  options.host_tier = true;
  options.device_budget_bytes = 0;
  options.host_budget_bytes = 0;
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const std::string pinned = CreateFed(*store, true);
  const std::string plain = CreateFed(*store, false);
  EXPECT_EQ(Where(*store, pinned), Residency::kHost);
  EXPECT_EQ(Where(*store, plain), Residency::kDisk);
}

TEST_F(SessionPinningTest, PinQuotaPerUser) {
  RecordingStoreObserver seen;
  SessionStoreOptions options;
  options.observer = &seen;
  options.max_pinned_sessions_per_user = 2;
  std::unique_ptr<SessionStore> store = OpenStore(options);
  CreateOptions pin;
  pin.pinned = true;
  absl::StatusOr<SessionInfo> first = store->Create("alice", "", pin);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(store->Create("alice", "", pin).ok());
  absl::StatusOr<SessionInfo> third = store->Create("alice", "", pin);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();
  EXPECT_TRUE(absl::StrContains(third.status().message(), "pinned session limit per user (2)"))
      << third.status();
  // Unpinned sessions and other users' pins are not counted against it.
  EXPECT_TRUE(store->Create("alice").ok());
  EXPECT_TRUE(store->Create("bob", "", pin).ok());
  EXPECT_EQ(seen.Pinned(), 3u);
  // Unpinning by deletion frees a place.
  ASSERT_TRUE(store->Delete(first->id, "alice").ok());
  EXPECT_EQ(seen.Pinned(), 2u);
  EXPECT_TRUE(store->Create("alice", "", pin).ok());
  EXPECT_EQ(seen.Pinned(), 3u);
}

TEST_F(SessionPinningTest, FlagsSurviveDrainAndRestart) {
  SessionStoreOptions options;
  options.state_dir = TestTempPath("restart");
  options.max_pinned_sessions_per_user = 1;
  std::string both, keep_only, plain;
  {
    std::unique_ptr<SessionStore> store = OpenStore(options);
    both = CreateFed(*store, /*pinned=*/true, /*keep_on_expiry=*/true);
    keep_only = CreateFed(*store, false, true);
    plain = CreateFed(*store, false, false);
    absl::StatusOr<DrainReport> drained = store->CheckpointAll();
    ASSERT_TRUE(drained.ok()) << drained.status();
    ASSERT_EQ(drained->written, 3u);
  }
  RecordingStoreObserver seen;
  options.observer = &seen;
  std::unique_ptr<SessionStore> store = OpenStore(options);
  absl::StatusOr<LoadReport> loaded = store->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->loaded, 3u);
  EXPECT_TRUE(store->Get(both, "alice")->pinned);
  EXPECT_TRUE(store->Get(both, "alice")->keep_on_expiry);
  EXPECT_FALSE(store->Get(keep_only, "alice")->pinned);
  EXPECT_TRUE(store->Get(keep_only, "alice")->keep_on_expiry);
  EXPECT_FALSE(store->Get(plain, "alice")->pinned);
  EXPECT_FALSE(store->Get(plain, "alice")->keep_on_expiry);
  // The loaded pin counts: in the gauge and against the quota of 1.
  EXPECT_EQ(seen.Pinned(), 1u);
  SessionUpdate pin;
  pin.pinned = true;
  EXPECT_EQ(store->Update(plain, "alice", pin).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(SessionPinningTest, UpdateSetsFlagsWithinTheQuota) {
  RecordingStoreObserver seen;
  SessionStoreOptions options;
  options.observer = &seen;
  options.max_pinned_sessions_per_user = 1;
  options.host_tier = false;
  options.device_budget_bytes = 0;  // every idle unpinned session goes to disk
  std::unique_ptr<SessionStore> store = OpenStore(options);
  const std::string a = CreateFed(*store, false);
  const std::string b = CreateFed(*store, false);
  ASSERT_EQ(Where(*store, a), Residency::kDisk);

  SessionUpdate pin;
  pin.pinned = true;
  absl::StatusOr<SessionInfo> pinned = store->Update(a, "alice", pin);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_TRUE(pinned->pinned);
  EXPECT_FALSE(pinned->keep_on_expiry);  // not named: unchanged
  EXPECT_EQ(seen.Pinned(), 1u);
  // Pinning does not move it; once used, eviction leaves it on the device.
  EXPECT_EQ(Where(*store, a), Residency::kDisk);
  ASSERT_TRUE(store->WithSession(a, "alice", [](SessionLease&) { return absl::OkStatus(); }).ok());
  EXPECT_EQ(Where(*store, a), Residency::kDevice);

  absl::StatusOr<SessionInfo> over = store->Update(b, "alice", pin);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted) << over.status();
  EXPECT_TRUE(absl::StrContains(over.status().message(), "pinned session limit per user (1)"))
      << over.status();
  EXPECT_FALSE(store->Get(b, "alice")->pinned);
  // Pinning a pinned session again is no second pin.
  EXPECT_TRUE(store->Update(a, "alice", pin).ok());
  EXPECT_EQ(seen.Pinned(), 1u);

  // Another user's session is NOT_FOUND exactly as a missing one.
  absl::StatusOr<SessionInfo> stolen = store->Update(a, "bob", pin);
  absl::StatusOr<SessionInfo> missing = store->Update(std::string(32, 'a'), "bob", pin);
  EXPECT_EQ(stolen.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(stolen.status().message(),
            absl::StrReplaceAll(missing.status().message(), {{std::string(32, 'a'), a}}));

  // Unpinned, it is evicted at once (it is idle and over budget), and its
  // place in the quota is free.
  SessionUpdate unpin_keep;
  unpin_keep.pinned = false;
  unpin_keep.keep_on_expiry = true;
  absl::StatusOr<SessionInfo> unpinned = store->Update(a, "alice", unpin_keep);
  ASSERT_TRUE(unpinned.ok()) << unpinned.status();
  EXPECT_FALSE(unpinned->pinned);
  EXPECT_TRUE(unpinned->keep_on_expiry);
  EXPECT_EQ(Where(*store, a), Residency::kDisk);
  EXPECT_EQ(seen.Pinned(), 0u);
  EXPECT_TRUE(store->Update(b, "alice", pin).ok());
}

TEST_F(SessionPinningTest, FlagsSetOnDiskSurviveRestart) {
  SessionStoreOptions options;
  options.state_dir = TestTempPath("on-disk");
  options.host_tier = false;
  options.device_budget_bytes = 0;
  std::string id;
  {
    std::unique_ptr<SessionStore> store = OpenStore(options);
    id = CreateFed(*store, false);
    ASSERT_EQ(Where(*store, id), Residency::kDisk);
    SessionUpdate update;
    update.pinned = true;
    update.keep_on_expiry = true;
    ASSERT_TRUE(store->Update(id, "alice", update).ok());
    // Still on disk: the drain finds it there and writes nothing more.
    absl::StatusOr<DrainReport> drained = store->CheckpointAll();
    ASSERT_TRUE(drained.ok()) << drained.status();
    EXPECT_EQ(drained->already_on_disk, 1u);
  }
  std::unique_ptr<SessionStore> store = OpenStore(options);
  ASSERT_TRUE(store->LoadFromStateDir().ok());
  absl::StatusOr<SessionInfo> info = store->Get(id, "alice");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->pinned);
  EXPECT_TRUE(info->keep_on_expiry);
}

}  // namespace
}  // namespace hecate
