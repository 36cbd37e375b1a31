// The session store on a disk that tests make small (SessionStoreOptions::
// free_space stands in for statvfs: capacity minus the bytes of every file
// under the state directory): named checkpoints within the per-user quota
// and outside the reserve, list and delete, and a drain that saves every
// session that fits, reports each one that does not, and never loses a
// session already on disk.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

// Bytes of every regular file under `dir`.
uint64_t DiskUsage(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

std::vector<std::string> Names(const std::vector<NamedCheckpointInfo>& infos) {
  std::vector<std::string> names;
  for (const NamedCheckpointInfo& info : infos) names.push_back(info.name);
  return names;
}

class StorageLimitsTest : public ::testing::Test {
 protected:
  StorageLimitsTest()
      : rng_(TestSeed()),
        model_(testing::MicroModel(rng_())),
        backend_(MakeCpuBackend(model_)),
        state_bytes_(StateLayout(model_->config()).total_bytes()),
        checkpoint_bytes_(CheckpointSize(model_->config())),
        dir_(TestTempPath("storage")) {}

  // A store whose disk holds `capacity_` bytes in all.
  std::unique_ptr<SessionStore> OpenStore(SessionStoreOptions options = {}) {
    options.state_dir = dir_;
    options.free_space = [this](const std::string&) -> absl::StatusOr<uint64_t> {
      const uint64_t used = DiskUsage(dir_);
      return capacity_ > used ? capacity_ - used : 0;
    };
    absl::StatusOr<std::unique_ptr<SessionStore>> store = SessionStore::Open(*backend_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(*store);
  }

  std::string CreateWithTokens(SessionStore& store, const std::string& owner, size_t n) {
    const std::string id = store.Create(owner)->id;
    std::vector<uint8_t> tokens(n);
    for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
    absl::Status s = store.WithSession(id, owner, [&](SessionLease& lease) {
      std::vector<float> logits;
      return store.ApplyChunk(lease, tokens, LogitsMode::kLast, &logits);
    });
    EXPECT_TRUE(s.ok()) << s;
    return id;
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
  size_t state_bytes_;
  size_t checkpoint_bytes_;
  std::string dir_;
  uint64_t capacity_ = uint64_t{1} << 40;
};

TEST_F(StorageLimitsTest, NamedExportsStayWithinTheQuotaAndDeleteFreesIt) {
  // The size of a checkpoint at pulse 5, as this build writes it.
  const std::string dir = dir_;
  dir_ = TestTempPath("probe");
  size_t size = 0;
  {
    auto probe = OpenStore();
    size = probe->Export(CreateWithTokens(*probe, "alice", 5), "alice")->bytes.size();
  }
  dir_ = dir;
  SessionStoreOptions options;
  options.checkpoint_quota_bytes_per_user = 2 * size + size / 2;
  auto store = OpenStore(options);
  const std::string a = CreateWithTokens(*store, "alice", 5);
  const std::string b = CreateWithTokens(*store, "bob", 6);
  ASSERT_TRUE(store->Export(a, "alice", "one").ok());
  ASSERT_TRUE(store->Export(a, "alice", "two").ok());
  absl::StatusOr<ExportedCheckpoint> third = store->Export(a, "alice", "three");
  EXPECT_TRUE(absl::IsResourceExhausted(third.status())) << third.status();
  EXPECT_TRUE(absl::StrContains(third.status().message(), "quota")) << third.status();
  EXPECT_EQ(Names(*store->ListCheckpoints("alice")), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(*store->CheckpointBytesUsed("alice"), 2 * size);
  // A plain export (bytes only) needs no quota.
  EXPECT_TRUE(store->Export(a, "alice").ok());

  // bob sees none of alice's, and cannot delete them.
  ASSERT_TRUE(store->Export(b, "bob", "one").ok());
  absl::StatusOr<std::vector<NamedCheckpointInfo>> bobs = store->ListCheckpoints("bob");
  ASSERT_EQ(Names(*bobs), std::vector<std::string>{"one"});
  EXPECT_EQ((*bobs)[0].pulse_id, std::optional<uint64_t>(6));
  const absl::Status theirs = store->DeleteCheckpoint("bob", "two");
  EXPECT_TRUE(absl::IsNotFound(theirs)) << theirs;
  EXPECT_EQ(theirs.message(), "no checkpoint named 'two'");
  EXPECT_EQ(Names(*store->ListCheckpoints("alice")), (std::vector<std::string>{"one", "two"}));

  ASSERT_TRUE(store->DeleteCheckpoint("alice", "one").ok());
  EXPECT_TRUE(absl::IsNotFound(store->RestoreFromName("alice", "one", std::nullopt).status()));
  ASSERT_TRUE(store->Export(a, "alice", "three").ok());
  EXPECT_EQ(store->RestoreFromName("alice", "three", 5)->pulse_id, 5u);
}

TEST_F(StorageLimitsTest, NamedExportsLeaveTheReserveForSessionFiles) {
  SessionStoreOptions options;
  options.max_sessions_total = 10;
  auto store = OpenStore(options);
  // By default: room for every session's file.
  const uint64_t reserve = 10 * (checkpoint_bytes_ + kSessionMetadataAllowance);
  EXPECT_EQ(store->reserved_state_bytes(), reserve);
  const std::string a = CreateWithTokens(*store, "alice", 3);
  capacity_ = DiskUsage(dir_) + reserve + checkpoint_bytes_ - 1;
  absl::StatusOr<ExportedCheckpoint> refused = store->Export(a, "alice", "x");
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "reserved")) << refused.status();
  EXPECT_TRUE(store->ListCheckpoints("alice")->empty());
  // The reserve is what session files may use: a drain still saves them.
  absl::StatusOr<DrainReport> drained = store->CheckpointAll();
  ASSERT_TRUE(drained.ok()) << drained.status();
  EXPECT_EQ(drained->written, 1u);
  EXPECT_TRUE(drained->unsaved.empty());

  capacity_ = uint64_t{1} << 40;
  EXPECT_TRUE(store->Export(a, "alice", "x").ok());
  // An explicit reserve replaces the default.
  options.reserved_state_bytes = 123;
  EXPECT_EQ(OpenStore(options)->reserved_state_bytes(), 123u);
}

// The disk fills during a drain: every session that fits is saved (most
// recently used first), each one that does not is reported, the session
// already on disk is kept, and a restart restores exactly the saved ones.
TEST_F(StorageLimitsTest, DrainOnAFullDiskSavesWhatFitsAndLosesNothingStored) {
  SessionStoreOptions options;
  options.device_budget_bytes = 5 * state_bytes_;
  options.host_tier = false;
  auto store = OpenStore(options);
  std::map<std::string, uint64_t> pulses;  // id -> pulse id
  std::vector<std::string> ids;            // least recently used first
  const uint64_t before_offload = DiskUsage(dir_);
  for (int i = 0; i < 6; ++i) {
    const std::string owner = i % 2 == 0 ? "alice" : "bob";
    const std::string id = CreateWithTokens(*store, owner, 3 + i);
    pulses[id] = 3 + i;
    ids.push_back(id);
  }
  // The least recently used session went to disk; its file and metadata
  // show what one session file takes.
  std::string offloaded;
  for (const auto& [id, pulse] : pulses) {
    for (const char* owner : {"alice", "bob"}) {
      absl::StatusOr<SessionInfo> info = store->Get(id, owner);
      if (info.ok() && info->residency == Residency::kDisk) offloaded = id;
    }
  }
  ASSERT_EQ(offloaded, ids[0]);
  const uint64_t per_session = DiskUsage(dir_) - before_offload;
  const uint64_t file_bytes =
      std::filesystem::file_size(absl::StrCat(dir_, "/users/alice/sessions/", ids[0], ".ckpt"));
  ASSERT_GT(per_session, file_bytes);
  // Room for exactly two more session files (the store asks for a file's
  // bytes and the metadata allowance before it writes one).
  const uint64_t needed = file_bytes + kSessionMetadataAllowance;
  capacity_ = DiskUsage(dir_) + needed + per_session + per_session / 2;

  absl::StatusOr<DrainReport> drained = store->CheckpointAll();
  ASSERT_TRUE(drained.ok()) << drained.status();
  EXPECT_EQ(drained->already_on_disk, 1u);
  EXPECT_EQ(drained->written, 2u);
  ASSERT_EQ(drained->unsaved.size(), 3u);
  ASSERT_EQ(drained->errors.size(), 3u);
  std::set<std::string> unsaved;
  for (size_t i = 0; i < drained->unsaved.size(); ++i) {
    const UnsavedSession& u = drained->unsaved[i];
    EXPECT_TRUE(absl::IsResourceExhausted(u.status)) << u.status;
    EXPECT_TRUE(absl::StrContains(drained->errors[i], u.id)) << drained->errors[i];
    EXPECT_TRUE(absl::StrContains(drained->errors[i], u.owner)) << drained->errors[i];
    EXPECT_NE(u.id, offloaded);
    unsaved.insert(u.id);
  }
  // The most recently used were saved first; the idlest are the ones lost.
  EXPECT_EQ(unsaved, (std::set<std::string>{ids[1], ids[2], ids[3]}));

  store.reset();  // the process exits
  capacity_ = uint64_t{1} << 40;
  auto restarted = OpenStore(options);
  absl::StatusOr<LoadReport> loaded = restarted->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->loaded, 3u);
  EXPECT_TRUE(loaded->errors.empty());
  for (const auto& [id, pulse] : pulses) {
    absl::StatusOr<SessionInfo> a = restarted->Get(id, "alice");
    absl::StatusOr<SessionInfo> b = restarted->Get(id, "bob");
    const bool found = a.ok() || b.ok();
    EXPECT_EQ(found, unsaved.count(id) == 0) << id;
    if (found) {
      EXPECT_EQ((a.ok() ? *a : *b).pulse_id, pulse) << id;
    }
  }
}

// Offload on a full disk: the session stays in memory, whole, and no file
// (not even a temporary one) is left behind.
TEST_F(StorageLimitsTest, OffloadOnAFullDiskKeepsTheSessionInMemory) {
  SessionStoreOptions options;
  options.device_budget_bytes = state_bytes_;
  options.host_tier = false;
  capacity_ = 0;
  auto store = OpenStore(options);
  const uint64_t empty = DiskUsage(dir_);
  const std::string a = CreateWithTokens(*store, "alice", 4);
  const std::string b = CreateWithTokens(*store, "alice", 5);
  EXPECT_EQ(store->Get(a, "alice")->residency, Residency::kDevice);
  EXPECT_EQ(store->Get(a, "alice")->pulse_id, 4u);
  EXPECT_EQ(store->Get(b, "alice")->pulse_id, 5u);
  EXPECT_EQ(DiskUsage(dir_), empty);
}

}  // namespace
}  // namespace hecate
