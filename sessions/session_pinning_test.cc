// Pinned sessions under eviction pressure: a pinned session is never moved
// to disk (it stays on the device without a host tier, goes no lower than
// host with one) while unpinned ones are offloaded; the per-user pin quota
// refuses one pin too many with RESOURCE_EXHAUSTED naming it.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
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
    options.state_dir = TestTempPath("pinning");
    absl::StatusOr<std::unique_ptr<SessionStore>> store = SessionStore::Open(*backend_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(*store);
  }

  std::string CreateFed(SessionStore& store, bool pinned) {
    CreateOptions create;
    create.pinned = pinned;
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

}  // namespace
}  // namespace hecate
