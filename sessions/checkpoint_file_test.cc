#include "sessions/checkpoint_file.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

TEST(ValidateNameTest, AcceptsTheDocumentedAlphabet) {
  EXPECT_TRUE(ValidateName("checkpoint name", "a").ok());
  EXPECT_TRUE(ValidateName("checkpoint name", "Before-Edit_2.v1").ok());
  EXPECT_TRUE(ValidateName("checkpoint name", std::string(128, 'x')).ok());
  EXPECT_TRUE(ValidateName("checkpoint name", "a..b").ok());  // no separator, stays in dir
}

TEST(ValidateNameTest, RejectsEverythingThatCouldLeaveTheDirectory) {
  for (std::string bad : {std::string(""), std::string(129, 'x'), std::string(".."),
                          std::string("."), std::string(".hidden"), std::string("a/b"),
                          std::string("../etc"), std::string("a\\b"), std::string("a b"),
                          std::string("a\0b", 3), std::string("caf\xc3\xa9"),
                          std::string(".tmp-x")}) {
    absl::Status s = ValidateName("checkpoint name", bad);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << "'" << bad << "': " << s;
    EXPECT_NE(s.message().find("checkpoint name"), absl::string_view::npos) << s;
  }
}

TEST(CheckpointDirTest, NamedRoundTripPerUser) {
  absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open(TestTempPath("named"));
  ASSERT_TRUE(dir.ok()) << dir.status();
  const uint64_t seed = TestSeed();
  const std::string a = RandomBytes(1000, seed);
  const std::string b = RandomBytes(2000, seed + 1);
  ASSERT_TRUE(dir->WriteNamed("alice", "one", a).ok());
  ASSERT_TRUE(dir->WriteNamed("bob", "one", b).ok());
  EXPECT_EQ(*dir->ReadNamed("alice", "one", 1 << 20), a);
  EXPECT_EQ(*dir->ReadNamed("bob", "one", 1 << 20), b);
  // Replacing keeps exactly the new bytes.
  ASSERT_TRUE(dir->WriteNamed("alice", "one", b).ok());
  EXPECT_EQ(*dir->ReadNamed("alice", "one", 1 << 20), b);
  absl::StatusOr<std::string> missing = dir->ReadNamed("alice", "two", 1 << 20);
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_EQ(missing.status().message(), "no checkpoint named 'two'");
  absl::StatusOr<std::string> too_big = dir->ReadNamed("alice", "one", b.size() - 1);
  EXPECT_TRUE(absl::IsDataLoss(too_big.status())) << too_big.status();
  EXPECT_EQ(*dir->ListNamed("alice"), std::vector<std::string>{"one"});
  EXPECT_TRUE(dir->ListNamed("carol")->empty());
}

TEST(CheckpointDirTest, BadNamesAndUsersWriteNothing) {
  const std::string root = TestTempPath("bad");
  absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open(root);
  ASSERT_TRUE(dir.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(dir->WriteNamed("alice", "../escape", "x")));
  EXPECT_TRUE(absl::IsInvalidArgument(dir->WriteNamed("../alice", "ok", "x")));
  EXPECT_TRUE(absl::IsInvalidArgument(dir->WriteNamed("alice", "", "x")));
  EXPECT_TRUE(absl::IsInvalidArgument(dir->ReadNamed("alice", "/etc/passwd", 100).status()));
  EXPECT_FALSE(Exists(root + "/escape"));
  EXPECT_FALSE(Exists(root + "/users/alice"));
}

TEST(CheckpointDirTest, SessionFilesAreListedRemovedAndConfined) {
  absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open(TestTempPath("sessions"));
  ASSERT_TRUE(dir.ok());
  const std::string id = "0123456789abcdef0123456789abcdef";
  const std::string bytes = RandomBytes(500, TestSeed());
  ASSERT_TRUE(dir->WriteSession("alice", id, bytes).ok());
  EXPECT_EQ(*dir->ReadSession("alice", id, 1 << 20), bytes);
  auto files = dir->ListSessionFiles();
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0], std::make_pair(std::string("alice"), id));
  ASSERT_TRUE(dir->RemoveSession("alice", id).ok());
  EXPECT_TRUE(dir->RemoveSession("alice", id).ok());  // idempotent
  EXPECT_TRUE(absl::IsNotFound(dir->ReadSession("alice", id, 1 << 20).status()));
  EXPECT_TRUE(dir->ListSessionFiles()->empty());
}

TEST(CheckpointDirTest, SymlinksAreNotFollowed) {
  const std::string root = TestTempPath("symlink");
  absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open(root);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(dir->WriteNamed("alice", "real", "secret").ok());
  const std::string link = root + "/users/alice/checkpoints/link";
  ASSERT_EQ(::symlink((root + "/users/alice/checkpoints/real").c_str(), link.c_str()), 0);
  EXPECT_FALSE(dir->ReadNamed("alice", "link", 100).ok());
}

TEST(CheckpointDirTest, StaleTempFilesAreRemovedAndNeverListed) {
  const std::string root = TestTempPath("stale");
  absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open(root);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(dir->WriteNamed("alice", "keep", "bytes").ok());
  const std::string temp = root + "/users/alice/checkpoints/.tmp-keep-1-1";
  std::ofstream(temp) << "torn";
  EXPECT_EQ(*dir->ListNamed("alice"), std::vector<std::string>{"keep"});
  EXPECT_EQ(dir->RemoveStaleTempFiles(absl::Hours(1)), 0u);  // too young
  EXPECT_TRUE(Exists(temp));
  EXPECT_EQ(dir->RemoveStaleTempFiles(absl::ZeroDuration() - absl::Seconds(1)), 1u);
  EXPECT_FALSE(Exists(temp));
  EXPECT_EQ(*dir->ReadNamed("alice", "keep", 100), "bytes");
}

TEST(WriteFileAtomicallyTest, HookSeesEveryStepInOrder) {
  absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open(TestTempPath("steps"));
  ASSERT_TRUE(dir.ok());
  std::vector<WriteStep> steps;
  dir->set_write_hook([&](WriteStep s) { steps.push_back(s); });
  ASSERT_TRUE(dir->WriteNamed("alice", "x", "payload").ok());
  EXPECT_EQ(steps, (std::vector<WriteStep>{WriteStep::kTempWritten, WriteStep::kTempSynced,
                                           WriteStep::kRenamed, WriteStep::kDirSynced}));
}

// A writer process that dies between any two steps of a write leaves the old
// file or the new one, never a mix.
TEST(WriteFileAtomicallyTest, CrashBetweenStepsLeavesOldOrNew) {
  const std::string root = TestTempPath("crash-steps");
  absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open(root);
  ASSERT_TRUE(dir.ok());
  std::random_device seeds;
  const std::string old_bytes = RandomBytes(1 << 20, seeds());
  ASSERT_TRUE(dir->WriteNamed("alice", "ckpt", old_bytes).ok());
  for (WriteStep crash_at : {WriteStep::kTempWritten, WriteStep::kTempSynced,
                             WriteStep::kRenamed, WriteStep::kDirSynced}) {
    const std::string current = *dir->ReadNamed("alice", "ckpt", 4 << 20);
    const std::string new_bytes = RandomBytes((1 << 20) + 7, seeds());
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      dir->set_write_hook([crash_at](WriteStep s) {
        if (s == crash_at) ::_exit(42);
      });
      (void)dir->WriteNamed("alice", "ckpt", new_bytes);
      ::_exit(0);
    }
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 42);
    const std::string after = *dir->ReadNamed("alice", "ckpt", 4 << 20);
    if (crash_at == WriteStep::kTempWritten || crash_at == WriteStep::kTempSynced) {
      EXPECT_EQ(after, current);
    } else {
      EXPECT_EQ(after, new_bytes);
    }
  }
}

// Generation k of the file: its number, then bytes derived from it.
std::string Generation(uint64_t k) {
  std::string bytes = RandomBytes((1 << 20) + static_cast<size_t>(k % 4096), k * 7919 + 1);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((k >> (8 * i)) & 0xff);
  return bytes;
}

// SIGKILL a writer that rewrites the same file in a loop, at random moments.
TEST(WriteFileAtomicallyTest, SigkillAtRandomMomentsNeverTearsTheFile) {
  const std::string root = TestTempPath("crash-kill");
  absl::StatusOr<CheckpointDir> dir = CheckpointDir::Open(root);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(dir->WriteNamed("alice", "ckpt", Generation(0)).ok());
  std::mt19937_64 rng(TestSeed());
  uint64_t next_generation = 1;
  for (int trial = 0; trial < 25; ++trial) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const uint64_t first = next_generation;
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(ready[0]);
      for (uint64_t k = first;; ++k) {
        const std::string bytes = Generation(k);
        (void)dir->WriteNamed("alice", "ckpt", bytes);
        char one = 1;
        if (::write(ready[1], &one, 1) != 1) ::_exit(1);
      }
    }
    ::close(ready[1]);
    // Let it finish a random number of writes, then kill it mid-whatever.
    const int writes = static_cast<int>(rng() % 3);
    for (int i = 0; i < writes; ++i) {
      char c;
      ASSERT_EQ(::read(ready[0], &c, 1), 1);
    }
    for (volatile uint64_t spin = rng() % 2000000; spin > 0; spin = spin - 1) {
    }
    ::kill(child, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    ::close(ready[0]);
    const std::string after = *dir->ReadNamed("alice", "ckpt", 4 << 20);
    ASSERT_GE(after.size(), 8u);
    uint64_t k = 0;
    for (int i = 0; i < 8; ++i) k |= static_cast<uint64_t>(static_cast<uint8_t>(after[i])) << (8 * i);
    ASSERT_LT(k, first + 1000);
    EXPECT_EQ(after, Generation(k)) << "torn file at trial " << trial;
    next_generation = first + 1000;
  }
}

}  // namespace
}  // namespace hecate
