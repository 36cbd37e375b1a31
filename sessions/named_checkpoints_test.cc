// Named checkpoints within limits: the per-user quota (replacements counted
// once, concurrent writers included, usage read back after a restart), the
// disk reserve, listing with details and deletion, each user isolated.
#include "sessions/named_checkpoints.h"

#include <dirent.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_test_util.h"

namespace hecate {
namespace {

// Every entry of `dir` (temporary files included).
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Names(const std::vector<NamedCheckpointInfo>& infos) {
  std::vector<std::string> names;
  for (const NamedCheckpointInfo& info : infos) names.push_back(info.name);
  return names;
}

class NamedCheckpointsTest : public ::testing::Test {
 protected:
  NamedCheckpointsTest() : rng_(TestSeed()), model_(testing::MicroModel(rng_())), dir_(TestTempPath("named")) {}

  // A real checkpoint at `pulse_id`.
  std::string Checkpoint(uint64_t pulse_id) {
    ModelState state(model_->config());
    testing::FillRandomValidState(state, pulse_id, rng_());
    absl::StatusOr<std::string> bytes = EncodeCheckpoint(*model_, state);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return *bytes;
  }

  std::unique_ptr<NamedCheckpointStore> Open(NamedCheckpointLimits limits) {
    absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open(dir_);
    EXPECT_TRUE(dir.ok()) << dir.status();
    return std::make_unique<NamedCheckpointStore>(*std::move(dir), std::move(limits));
  }

  size_t size() const { return CheckpointSize(model_->config()); }
  std::string UserFolder(absl::string_view user) const {
    return absl::StrCat(dir_, "/users/", user, "/checkpoints");
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::string dir_;
};

TEST_F(NamedCheckpointsTest, QuotaRefusesNamingItAndWritesNothing) {
  // Room for two checkpoints and a half.
  const uint64_t quota = 2 * size() + size() / 2;
  auto store = Open({quota, 0, nullptr});
  ASSERT_TRUE(store->Write("alice", "a", Checkpoint(1)).ok());
  ASSERT_TRUE(store->Write("alice", "b", Checkpoint(2)).ok());
  EXPECT_EQ(*store->UsedBytes("alice"), 2 * size());

  const absl::Status third = store->Write("alice", "c", Checkpoint(3));
  EXPECT_TRUE(absl::IsResourceExhausted(third)) << third;
  EXPECT_TRUE(absl::StrContains(third.message(), "checkpoint storage quota per user")) << third;
  EXPECT_TRUE(absl::StrContains(third.message(), absl::StrCat("(", quota, " bytes"))) << third;
  EXPECT_TRUE(absl::StrContains(third.message(), absl::StrCat("uses ", 2 * size(), " bytes")))
      << third;
  EXPECT_TRUE(absl::StrContains(third.message(), absl::StrCat("needs ", size(), " more")))
      << third;
  // Nothing written, not even a temporary file.
  EXPECT_EQ(Entries(UserFolder("alice")), (std::vector<std::string>{"a", "b"}));

  // Replacing a checkpoint counts it once.
  EXPECT_TRUE(store->Write("alice", "b", Checkpoint(4)).ok());
  // Other users have quotas of their own.
  EXPECT_TRUE(store->Write("bob", "c", Checkpoint(5)).ok());
  // Deleting frees the quota.
  ASSERT_TRUE(store->Delete("alice", "a").ok());
  EXPECT_EQ(*store->UsedBytes("alice"), size());
  EXPECT_TRUE(store->Write("alice", "c", Checkpoint(3)).ok());
  EXPECT_EQ(Names(*store->List("alice")), (std::vector<std::string>{"b", "c"}));
}

TEST_F(NamedCheckpointsTest, ListShowsOnlyTheCallersWithSizesTimesAndPulseIds) {
  auto store = Open({});
  const absl::Time before = absl::Now() - absl::Seconds(2);
  ASSERT_TRUE(store->Write("alice", "zeta", Checkpoint(7)).ok());
  ASSERT_TRUE(store->Write("alice", "alpha", Checkpoint(12)).ok());
  ASSERT_TRUE(store->Write("bob", "bobs", Checkpoint(3)).ok());
  absl::StatusOr<std::vector<NamedCheckpointInfo>> mine = store->List("alice");
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_EQ(Names(*mine), (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_EQ((*mine)[0].pulse_id, std::optional<uint64_t>(12));
  EXPECT_EQ((*mine)[1].pulse_id, std::optional<uint64_t>(7));
  for (const NamedCheckpointInfo& info : *mine) {
    EXPECT_EQ(info.size_bytes, size());
    EXPECT_GE(info.created, before);
    EXPECT_LE(info.created, absl::Now() + absl::Seconds(2));
  }
  EXPECT_EQ(Names(*store->List("bob")), std::vector<std::string>{"bobs"});
  EXPECT_TRUE(store->List("carol")->empty());
  EXPECT_TRUE(absl::IsInvalidArgument(store->List("../alice").status()));
}

TEST_F(NamedCheckpointsTest, UnreadableHeaderIsListedWithoutPulseId) {
  auto store = Open({});
  std::string bytes = Checkpoint(9);
  bytes[testing::kPulseIdOffset] ^= 1;  // the header CRC no longer matches
  ASSERT_TRUE(store->Write("alice", "edited", bytes).ok());
  absl::StatusOr<std::vector<NamedCheckpointInfo>> mine = store->List("alice");
  ASSERT_TRUE(mine.ok()) << mine.status();
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].size_bytes, bytes.size());
  EXPECT_FALSE((*mine)[0].pulse_id.has_value());
}

TEST_F(NamedCheckpointsTest, AnotherUsersCheckpointIsNotFoundExactlyLikeAMissingOne) {
  auto store = Open({});
  ASSERT_TRUE(store->Write("alice", "mine", Checkpoint(4)).ok());
  const absl::Status theirs = store->Delete("bob", "mine");
  const absl::Status missing = store->Delete("bob", "never-stored");
  EXPECT_TRUE(absl::IsNotFound(theirs)) << theirs;
  EXPECT_EQ(theirs.message(), "no checkpoint named 'mine'");
  EXPECT_EQ(missing.message(), "no checkpoint named 'never-stored'");
  EXPECT_TRUE(absl::IsNotFound(store->Read("bob", "mine", size()).status()));
  EXPECT_EQ(Names(*store->List("alice")), std::vector<std::string>{"mine"});
  EXPECT_TRUE(store->Delete("alice", "mine").ok());
  EXPECT_TRUE(absl::IsNotFound(store->Delete("alice", "mine")));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Delete("alice", "../bob/x")));
}

TEST_F(NamedCheckpointsTest, ReserveIsLeftFree) {
  const uint64_t reserve = 10 * size();
  uint64_t free_bytes = reserve + size() - 1;  // one byte short
  auto store = Open({uint64_t{1} << 40, reserve,
                     [&](const std::string&) -> absl::StatusOr<uint64_t> { return free_bytes; }});
  const absl::Status refused = store->Write("alice", "x", Checkpoint(1));
  EXPECT_TRUE(absl::IsResourceExhausted(refused)) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), absl::StrCat(reserve, " of them reserved")))
      << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), absl::StrCat("needs ", size()))) << refused;
  EXPECT_TRUE(Entries(UserFolder("alice")).empty());
  free_bytes = reserve + size();
  EXPECT_TRUE(store->Write("alice", "x", Checkpoint(1)).ok());
}

TEST_F(NamedCheckpointsTest, UsageSurvivesARestart) {
  const uint64_t quota = 3 * size();
  {
    auto first = Open({quota, 0, nullptr});
    for (const char* name : {"one", "two", "three"}) {
      ASSERT_TRUE(first->Write("alice", name, Checkpoint(1)).ok());
    }
    ASSERT_TRUE(first->Write("bob", "b", Checkpoint(1)).ok());
  }
  auto second = Open({quota, 0, nullptr});
  EXPECT_TRUE(absl::IsResourceExhausted(second->Write("alice", "four", Checkpoint(2))));
  absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> usage = second->UsageByUser();
  ASSERT_TRUE(usage.ok()) << usage.status();
  std::sort(usage->begin(), usage->end());
  EXPECT_EQ(*usage, (std::vector<std::pair<std::string, uint64_t>>{{"alice", 3 * size()},
                                                                   {"bob", size()}}));
}

TEST_F(NamedCheckpointsTest, ConcurrentWritersCannotOverrunTheQuotaTogether) {
  const uint64_t quota = 3 * size();
  auto store = Open({quota, 0, nullptr});
  std::vector<std::string> bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(Checkpoint(i + 1));
  std::atomic<int> ok{0}, refused{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < 8; ++i) {
    writers.emplace_back([&, i] {
      absl::Status s = store->Write("alice", absl::StrCat("c", i), bytes[i]);
      if (s.ok()) ++ok;
      if (absl::IsResourceExhausted(s)) ++refused;
    });
  }
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(ok.load(), 3);
  EXPECT_EQ(refused.load(), 5);
  EXPECT_EQ(*store->UsedBytes("alice"), quota);
}

}  // namespace
}  // namespace hecate
