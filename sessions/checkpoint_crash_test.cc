// Crash safety of real checkpoints: a writer process killed at random
// moments (SIGKILL) or between the steps of a write leaves a checkpoint that
// restores, and is exactly the old or the new one.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_file.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

constexpr uint64_t kFirstPulse = 1000;

class CrashTest : public ::testing::Test {
 protected:
  CrashTest() : seed_(TestSeed()) {
    model_ = *LoadModel("random:tiny", seed_);  // ~2.4 MB checkpoints
    root_ = TestTempPath("crash");
    dir_ = *CheckpointDir::Open(root_);
  }

  // Generation k: a random valid state at pulse kFirstPulse + k.
  std::string Generation(uint64_t k) {
    ModelState state(model_->config());
    testing::FillRandomValidState(state, kFirstPulse + k, seed_ ^ (k * 0x9e3779b97f4a7c15ull));
    return *EncodeCheckpoint(*model_, state);
  }

  // The stored checkpoint decodes, and is byte for byte the generation its
  // pulse id names.
  void ExpectWholeGeneration(uint64_t newest) {
    absl::StatusOr<std::string> bytes =
        dir_->ReadNamed("alice", "ckpt", CheckpointSize(model_->config()));
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    absl::StatusOr<ModelState> state = DecodeCheckpoint(*model_, *bytes);
    ASSERT_TRUE(state.ok()) << "torn checkpoint: " << state.status();
    const uint64_t k = state->pulse_id() - kFirstPulse;
    ASSERT_LE(k, newest);
    EXPECT_EQ(*bytes, Generation(k));
  }

  uint64_t seed_;
  std::shared_ptr<const Model> model_;
  std::string root_;
  std::optional<CheckpointDir> dir_;
};

TEST_F(CrashTest, SigkillMidWriteLeavesOldOrNew) {
  ASSERT_TRUE(dir_->WriteNamed("alice", "ckpt", Generation(0)).ok());
  std::mt19937_64 rng(seed_);
  uint64_t first = 1;
  int killed_mid_write = 0;
  for (int trial = 0; trial < 20; ++trial) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(ready[0]);
      for (uint64_t k = first;; ++k) {
        const std::string bytes = Generation(k);
        char one = 1;
        if (::write(ready[1], &one, 1) != 1) ::_exit(1);  // about to write k
        (void)dir_->WriteNamed("alice", "ckpt", bytes);
      }
    }
    ::close(ready[1]);
    const int writes = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < writes; ++i) {
      char c;
      ASSERT_EQ(::read(ready[0], &c, 1), 1);
    }
    for (volatile uint64_t spin = rng() % 400000; spin > 0; spin = spin - 1) {
    }
    ::kill(child, SIGKILL);
    ASSERT_EQ(::waitpid(child, nullptr, 0), child);
    ::close(ready[0]);
    ExpectWholeGeneration(first + 100);
    if (HasFatalFailure()) return;
    first += 100;
    // A temporary file left behind means the kill landed mid-write.
    for (const auto& e : std::filesystem::directory_iterator(root_ + "/users/alice/checkpoints")) {
      if (e.path().filename().string().rfind(".tmp-", 0) == 0) {
        ++killed_mid_write;
        std::filesystem::remove(e.path());
      }
    }
  }
  std::cout << killed_mid_write << " of 20 kills landed mid-write\n";
}

TEST_F(CrashTest, DeathBetweenStepsLeavesOldOrNewAndRestores) {
  const std::string old_bytes = Generation(0);
  ASSERT_TRUE(dir_->WriteNamed("alice", "ckpt", old_bytes).ok());
  uint64_t k = 0;
  for (WriteStep step : {WriteStep::kTempWritten, WriteStep::kTempSynced, WriteStep::kRenamed,
                         WriteStep::kDirSynced}) {
    ++k;
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      const std::string bytes = Generation(k);
      dir_->set_write_hook([step](WriteStep s) {
        if (s == step) ::abort();  // dies by a signal, as a crash would
      });
      (void)dir_->WriteNamed("alice", "ckpt", bytes);
      ::_exit(0);
    }
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wstatus));
    ExpectWholeGeneration(k);
  }
  // What is left restores through the store, with the pulse id it names.
  std::unique_ptr<Backend> cpu = MakeCpuBackend(model_);
  SessionStoreOptions options;
  options.state_dir = root_;
  auto store = *SessionStore::Open(*cpu, options);
  absl::StatusOr<SessionInfo> restored =
      store->RestoreFromName("alice", "ckpt", kFirstPulse + k);  // renamed before dying
  ASSERT_TRUE(restored.ok()) << restored.status();
  // The same state; the export now also carries the (empty) transcript.
  absl::StatusOr<ModelState> exported =
      DecodeCheckpoint(*model_, store->Export(restored->id, "alice")->bytes);
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_TRUE(exported->BitwiseEquals(*DecodeCheckpoint(*model_, Generation(k))));
}

}  // namespace
}  // namespace hecate
