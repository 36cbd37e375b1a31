// Residency tiers under tiny budgets: eviction order, offload round trips,
// drain and restart.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/recording_store_observer.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

class ResidencyTest : public ::testing::Test {
 protected:
  ResidencyTest()
      : rng_(TestSeed()),
        model_(testing::MicroModel(rng_())),
        backend_(MakeCpuBackend(model_)),
        bytes_(StateLayout(model_->config()).total_bytes()),
        dir_(TestTempPath("residency")) {}

  // Room for `device` sessions on the device, `host` in host memory (the
  // host tier is on only when host > 0).
  std::unique_ptr<SessionStore> OpenStore(size_t device, size_t host = 0) {
    SessionStoreOptions options;
    options.device_budget_bytes = device * bytes_;
    options.host_budget_bytes = host * bytes_;
    options.host_tier = host > 0;
    options.state_dir = dir_;
    options.observer = &seen_;
    // Budgets here count states alone (rewind snapshots would count too).
    options.max_snapshot_bytes = 0;
    absl::StatusOr<std::unique_ptr<SessionStore>> store = SessionStore::Open(*backend_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return std::move(*store);
  }

  std::string CreateWithTokens(SessionStore& store, const std::string& owner, size_t n) {
    const std::string id = store.Create(owner)->id;
    Use(store, id, owner, n);
    return id;
  }

  std::vector<float> Use(SessionStore& store, const std::string& id, const std::string& owner,
                         size_t n) {
    std::vector<uint8_t> tokens(n);
    for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
    std::vector<float> logits;
    absl::Status s = store.WithSession(id, owner, [&](SessionLease& lease) {
      return n == 0 ? absl::OkStatus()
                    : store.ApplyChunk(lease, tokens, LogitsMode::kLast, &logits);
    });
    EXPECT_TRUE(s.ok()) << s;
    return logits;
  }

  Residency Where(SessionStore& store, const std::string& id) {
    return store.Get(id, "alice")->residency;
  }

  std::string Export(SessionStore& store, const std::string& id, const std::string& owner) {
    absl::StatusOr<ExportedCheckpoint> e = store.Export(id, owner);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? e->bytes : "";
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
  size_t bytes_;
  std::string dir_;
  // Records what every store reports, and fails the test on a failed
  // checkpoint unless expect_ok_events is cleared.
  class Observer : public RecordingStoreObserver {
   public:
    void OnCheckpoint(const CheckpointEvent& e) override {
      if (expect_ok_events) {
        EXPECT_EQ(e.code, absl::StatusCode::kOk);
      }
      RecordingStoreObserver::OnCheckpoint(e);
    }
    std::atomic<bool> expect_ok_events{true};
  };
  Observer seen_;
};

TEST_F(ResidencyTest, LeastRecentlyUsedIdleSessionMovesToDiskFirst) {
  auto store = OpenStore(/*device=*/2);
  const std::string a = CreateWithTokens(*store, "alice", 3);
  const std::string b = CreateWithTokens(*store, "alice", 4);
  EXPECT_EQ(Where(*store, a), Residency::kDevice);
  const std::string c = CreateWithTokens(*store, "alice", 5);  // a is the oldest use
  EXPECT_EQ(Where(*store, a), Residency::kDisk);
  EXPECT_EQ(Where(*store, b), Residency::kDevice);
  Use(*store, b, "alice", 1);  // now c is the least recently used
  const std::string d = CreateWithTokens(*store, "alice", 6);
  EXPECT_EQ(Where(*store, c), Residency::kDisk);
  EXPECT_EQ(Where(*store, b), Residency::kDevice);
  EXPECT_EQ(Where(*store, d), Residency::kDevice);
  EXPECT_EQ(seen_.Evictions(Residency::kDevice, Residency::kDisk), 2u);
  EXPECT_EQ(seen_.Sessions(Residency::kDevice), 2u);
  EXPECT_EQ(seen_.Sessions(Residency::kDisk), 2u);
  EXPECT_EQ(seen_.Bytes(Residency::kDevice), 2 * bytes_);
  EXPECT_EQ(seen_.Bytes(Residency::kDisk), 2 * bytes_);
  // Using a comes back transparently and pushes out the LRU one (b).
  Use(*store, a, "alice", 2);
  EXPECT_EQ(Where(*store, a), Residency::kDevice);
  EXPECT_EQ(Where(*store, b), Residency::kDisk);
  EXPECT_EQ(store->Get(a, "alice")->pulse_id, 5u);
  EXPECT_EQ(seen_.Count(CheckpointEvent::Kind::kReload, absl::StatusCode::kOk), 1u);
  EXPECT_EQ(seen_.Evictions(Residency::kDevice, Residency::kDisk), 3u);
  EXPECT_EQ(seen_.Sessions(Residency::kDevice), 2u);
  EXPECT_EQ(seen_.Sessions(Residency::kDisk), 2u);
}

// Every use of a session that is not on the device promotes it, and the
// observer hears the tier it came from; uses on the device are not reported.
TEST_F(ResidencyTest, PromotionsAreReportedWithTheirTier) {
  auto store = OpenStore(/*device=*/1, /*host=*/1);
  const std::string a = CreateWithTokens(*store, "alice", 3);
  const std::string b = CreateWithTokens(*store, "alice", 3);  // a to host
  const std::string c = CreateWithTokens(*store, "alice", 3);  // a to disk, b to host
  EXPECT_TRUE(seen_.Promotions().empty());
  Use(*store, c, "alice", 1);  // on the device already
  Use(*store, b, "alice", 1);  // from host
  Use(*store, a, "alice", 1);  // from disk
  const auto promotions = seen_.Promotions();
  ASSERT_EQ(promotions.size(), 2u);
  EXPECT_EQ(promotions[0].first, Residency::kHost);
  EXPECT_EQ(promotions[1].first, Residency::kDisk);
  for (const auto& [from, duration] : promotions) EXPECT_GT(duration, absl::ZeroDuration());
  EXPECT_EQ(seen_.Promotions(Residency::kDisk), 1u);
  EXPECT_EQ(Where(*store, a), Residency::kDevice);
}

TEST_F(ResidencyTest, DeviceToHostToDisk) {
  auto store = OpenStore(/*device=*/1, /*host=*/1);
  const std::string a = CreateWithTokens(*store, "alice", 3);
  const std::string b = CreateWithTokens(*store, "alice", 3);
  EXPECT_EQ(Where(*store, a), Residency::kHost);
  const std::string c = CreateWithTokens(*store, "alice", 3);
  EXPECT_EQ(Where(*store, a), Residency::kDisk);
  EXPECT_EQ(Where(*store, b), Residency::kHost);
  EXPECT_EQ(Where(*store, c), Residency::kDevice);
  EXPECT_EQ(seen_.Evictions(Residency::kDevice, Residency::kHost), 2u);
  EXPECT_EQ(seen_.Evictions(Residency::kHost, Residency::kDisk), 1u);
  EXPECT_EQ(seen_.Evictions(Residency::kDevice, Residency::kDisk), 0u);
  for (Residency tier : {Residency::kDevice, Residency::kHost, Residency::kDisk}) {
    EXPECT_EQ(seen_.Sessions(tier), 1u);
  }
  Use(*store, b, "alice", 1);  // b back from the host (no checkpoint read), c down to it
  EXPECT_EQ(seen_.Count(CheckpointEvent::Kind::kReload), 0u);
  EXPECT_EQ(seen_.Evictions(Residency::kDevice, Residency::kHost), 3u);
  EXPECT_EQ(Where(*store, b), Residency::kDevice);
  EXPECT_EQ(Where(*store, c), Residency::kHost);
}

TEST_F(ResidencyTest, OffloadRoundTripsAreBitExact) {
  auto store = OpenStore(/*device=*/1, /*host=*/1);
  // Twins: same tokens; `moved` travels device -> host -> disk -> device.
  const std::string moved = store->Create("alice")->id;
  std::vector<uint8_t> tokens(20 + rng_() % 30);
  for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(store->WithSession(moved, "alice", [&](SessionLease& l) {
      return store->ApplyChunk(l, tokens, LogitsMode::kNone, nullptr);
    }).ok());
    const std::string before = Export(*store, moved, "alice");
    CreateWithTokens(*store, "bob", 1);
    CreateWithTokens(*store, "bob", 1);  // pushes `moved` down to disk
    ASSERT_EQ(Where(*store, moved), Residency::kDisk);
    EXPECT_EQ(Export(*store, moved, "alice"), before);  // served from the file
    Use(*store, moved, "alice", 0);
    ASSERT_EQ(Where(*store, moved), Residency::kDevice);
    EXPECT_EQ(Export(*store, moved, "alice"), before);
    for (const SessionInfo& s : store->List("bob")) ASSERT_TRUE(store->Delete(s.id, "bob").ok());
  }
  // And the state continues exactly like a never-moved twin's.
  std::unique_ptr<Backend> cpu = MakeCpuBackend(model_);
  auto twin = *cpu->NewState();
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(cpu->Forward(*twin, tokens, LogitsMode::kNone, nullptr).ok());
  }
  ModelState twin_host(model_->config());
  ASSERT_TRUE(cpu->Download(*twin, twin_host).ok());
  // The export carries the transcript too (format version 3).
  Transcript transcript;
  for (int round = 0; round < 3; ++round) transcript.Append(tokens, kDefaultMaxJournalBytes);
  EXPECT_EQ(Export(*store, moved, "alice"), *EncodeCheckpoint(*model_, twin_host, transcript));
}

TEST_F(ResidencyTest, BusySessionsNeverMove) {
  auto store = OpenStore(/*device=*/0);
  const std::string a = store->Create("alice")->id;
  EXPECT_EQ(Where(*store, a), Residency::kDisk);  // idle and over budget
  {
    absl::StatusOr<SessionLease> lease = store->Acquire(a, "alice");
    ASSERT_TRUE(lease.ok());
    const std::string b = store->Create("alice")->id;
    EXPECT_EQ(Where(*store, a), Residency::kDevice);
    EXPECT_EQ(Where(*store, b), Residency::kDisk);
  }
  EXPECT_EQ(Where(*store, a), Residency::kDisk);  // moves once released
}

TEST_F(ResidencyTest, DeleteRemovesTheOffloadedFile) {
  auto store = OpenStore(/*device=*/0);
  const std::string a = CreateWithTokens(*store, "alice", 4);
  const std::string file = absl::StrCat(dir_, "/users/alice/sessions/", a, ".ckpt");
  ASSERT_TRUE(std::ifstream(file).good());
  ASSERT_TRUE(store->Delete(a, "alice").ok());
  EXPECT_FALSE(std::ifstream(file).good());
  EXPECT_EQ(seen_.Sessions(), 0u);
  EXPECT_EQ(seen_.Bytes(Residency::kDisk), 0u);
}

TEST_F(ResidencyTest, CorruptOffloadedFileIsReportedAndKept) {
  auto store = OpenStore(/*device=*/0);
  const std::string a = CreateWithTokens(*store, "alice", 4);
  const std::string file = absl::StrCat(dir_, "/users/alice/sessions/", a, ".ckpt");
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(200);
  f.put('\x5a');
  f.close();
  seen_.expect_ok_events = false;  // the reload fails, and says so
  absl::StatusOr<SessionLease> lease = store->Acquire(a, "alice");
  EXPECT_TRUE(absl::IsDataLoss(lease.status())) << lease.status();
  EXPECT_EQ(store->Get(a, "alice")->residency, Residency::kDisk);
  EXPECT_TRUE(std::ifstream(file).good());
}

TEST_F(ResidencyTest, DrainAndRestartKeepIdsOwnersAndPulseIds) {
  std::vector<std::tuple<std::string, std::string, std::string>> sessions;  // id, owner, bytes
  std::vector<SessionInfo> before;
  {
    auto store = OpenStore(/*device=*/2, /*host=*/1);
    for (const char* owner : {"alice", "bob", "alice", "carol"}) {
      const std::string id = CreateWithTokens(*store, owner, 1 + rng_() % 30);
      sessions.emplace_back(id, owner, "");
    }
    for (auto& [id, owner, bytes] : sessions) bytes = Export(*store, id, owner);
    for (const auto& [id, owner, bytes] : sessions) before.push_back(*store->Get(id, owner));
    absl::StatusOr<DrainReport> drained = store->CheckpointAll();
    ASSERT_TRUE(drained.ok()) << drained.status();
    EXPECT_TRUE(drained->errors.empty());
    EXPECT_EQ(drained->written + drained->already_on_disk, 4u);
    EXPECT_EQ(seen_.Sessions(Residency::kDisk), 4u);
    EXPECT_EQ(seen_.Sessions(), 4u);
    EXPECT_EQ(seen_.Count(CheckpointEvent::Kind::kDrain), drained->written);
  }
  seen_.Clear();
  auto restarted = OpenStore(/*device=*/2);
  absl::StatusOr<LoadReport> loaded = restarted->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->loaded, 4u);
  EXPECT_EQ(seen_.Sessions(Residency::kDisk), 4u);
  EXPECT_EQ(seen_.Bytes(Residency::kDisk), 4 * bytes_);
  EXPECT_TRUE(loaded->errors.empty());
  for (size_t i = 0; i < sessions.size(); ++i) {
    const auto& [id, owner, bytes] = sessions[i];
    absl::StatusOr<SessionInfo> info = restarted->Get(id, owner);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->owner, owner);
    EXPECT_EQ(info->residency, Residency::kDisk);
    // Times and counters survive the restart, to the nanosecond.
    EXPECT_EQ(info->created, before[i].created);
    EXPECT_EQ(info->last_used, before[i].last_used);
    EXPECT_EQ(info->tokens_in, before[i].tokens_in);
    EXPECT_GT(info->tokens_in, 0u);
    EXPECT_EQ(info->tokens_out, before[i].tokens_out);
    EXPECT_EQ(Export(*restarted, id, owner), bytes);
    Use(*restarted, id, owner, 3);  // comes back to the device and continues
    EXPECT_EQ(restarted->Get(id, owner)->pulse_id, DecodeCheckpoint(*model_, bytes)->pulse_id() + 3);
  }
  EXPECT_EQ(restarted->List("alice").size(), 2u);
  // Loading twice registers nothing new.
  EXPECT_EQ(restarted->LoadFromStateDir()->loaded, 0u);
}

TEST_F(ResidencyTest, RestartSkipsBadFilesAndReportsThem) {
  std::string good, bad;
  {
    auto store = OpenStore(/*device=*/0);
    good = CreateWithTokens(*store, "alice", 5);
    bad = CreateWithTokens(*store, "alice", 5);
  }
  std::ofstream(absl::StrCat(dir_, "/users/alice/sessions/", bad, ".ckpt"),
                std::ios::binary | std::ios::trunc)
      << "not a checkpoint";
  auto restarted = OpenStore(/*device=*/1);
  absl::StatusOr<LoadReport> loaded = restarted->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->loaded, 1u);
  ASSERT_EQ(loaded->errors.size(), 1u);
  EXPECT_NE(loaded->errors[0].find(bad), std::string::npos) << loaded->errors[0];
  EXPECT_TRUE(restarted->Get(good, "alice").ok());
  EXPECT_TRUE(absl::IsNotFound(restarted->Get(bad, "alice").status()));
}

TEST_F(ResidencyTest, RestartWithDamagedOrMissingMetadataLoadsWithFreshTimes) {
  std::string damaged, missing;
  absl::Time created;
  {
    auto store = OpenStore(/*device=*/0);
    damaged = CreateWithTokens(*store, "alice", 5);
    missing = CreateWithTokens(*store, "alice", 6);
    created = store->Get(damaged, "alice")->created;
  }
  const std::string sessions_dir = absl::StrCat(dir_, "/users/alice/sessions/");
  std::ofstream(absl::StrCat(sessions_dir, damaged, ".meta"), std::ios::trunc)
      << "hecate-session-metadata v1\ncreated_unix_ns twelve\n";
  ASSERT_EQ(std::remove(absl::StrCat(sessions_dir, missing, ".meta").c_str()), 0);
  absl::SleepFor(absl::Milliseconds(2));
  auto restarted = OpenStore(/*device=*/1);
  absl::StatusOr<LoadReport> loaded = restarted->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->loaded, 2u);
  ASSERT_EQ(loaded->errors.size(), 1u);  // the damaged one; a missing file is not an error
  EXPECT_NE(loaded->errors[0].find(damaged), std::string::npos) << loaded->errors[0];
  EXPECT_NE(loaded->errors[0].find("created_unix_ns"), std::string::npos) << loaded->errors[0];
  for (const std::string& id : {damaged, missing}) {
    absl::StatusOr<SessionInfo> info = restarted->Get(id, "alice");
    ASSERT_TRUE(info.ok());
    EXPECT_GT(info->created, created);
    EXPECT_EQ(info->tokens_in, 0u);
    EXPECT_EQ(restarted->Get(id, "alice")->pulse_id, id == damaged ? 5u : 6u);
  }
  // Deleting removes both files.
  ASSERT_TRUE(restarted->Delete(damaged, "alice").ok());
  EXPECT_FALSE(std::ifstream(absl::StrCat(sessions_dir, damaged, ".ckpt")).good());
  EXPECT_FALSE(std::ifstream(absl::StrCat(sessions_dir, damaged, ".meta")).good());
}

TEST_F(ResidencyTest, CheckpointEventsReachTheHook) {
  auto store = OpenStore(/*device=*/0);
  const std::string a = CreateWithTokens(*store, "alice", 2);  // offload (x2: create, use)
  Export(*store, a, "alice");
  ASSERT_TRUE(store->CheckpointAll().ok());
  using K = CheckpointEvent::Kind;
  EXPECT_EQ(seen_.Count(K::kOffload), 2u);
  EXPECT_EQ(seen_.Count(K::kReload), 1u);
  EXPECT_EQ(seen_.Count(K::kExport), 1u);
  EXPECT_EQ(seen_.Count(K::kDrain), 0u);  // already on disk
  for (const CheckpointEvent& e : seen_.Checkpoints()) {
    EXPECT_GT(e.bytes, 0u);
    EXPECT_GE(e.duration, absl::ZeroDuration());
  }
}

// Writers on several threads, with every release evicting someone: each
// session ends exactly as far as the chunks that were applied to it.
TEST_F(ResidencyTest, ConcurrentWritersUnderEvictionChurn) {
  auto store = OpenStore(/*device=*/1, /*host=*/1);
  constexpr int kSessions = 3, kThreads = 4, kSteps = 40;
  std::vector<std::string> ids;
  for (int i = 0; i < kSessions; ++i) ids.push_back(store->Create("alice")->id);
  std::atomic<uint64_t> applied[kSessions] = {};
  std::atomic<int> busy{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, seed = rng_()] {
      std::mt19937_64 rng(seed);
      for (int step = 0; step < kSteps; ++step) {
        const int i = static_cast<int>(rng() % kSessions);
        std::vector<uint8_t> tokens(1 + rng() % 3);
        for (uint8_t& b : tokens) b = static_cast<uint8_t>(rng());
        absl::Status s = store->WithSession(ids[i], "alice", [&](SessionLease& lease) {
          return store->ApplyChunk(lease, tokens, LogitsMode::kNone, nullptr);
        });
        if (s.ok()) {
          applied[i] += tokens.size();
        } else {
          ASSERT_TRUE(absl::IsAborted(s)) << s;
          ++busy;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kSessions; ++i) {
    SessionInfo info = *store->Get(ids[i], "alice");
    EXPECT_EQ(info.pulse_id, applied[i].load());
    EXPECT_EQ(info.tokens_in, applied[i].load());
    EXPECT_EQ(DecodeCheckpoint(*model_, Export(*store, ids[i], "alice"))->pulse_id(),
              applied[i].load());
  }
  // The last usage reported is the store's: every session somewhere once.
  EXPECT_EQ(seen_.Sessions(), static_cast<size_t>(kSessions));
  size_t bytes = 0;
  for (Residency tier : {Residency::kDevice, Residency::kHost, Residency::kDisk}) {
    bytes += seen_.Bytes(tier);
  }
  EXPECT_EQ(bytes, kSessions * bytes_);
}

}  // namespace
}  // namespace hecate
