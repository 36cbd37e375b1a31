// A SessionStore with a checkpoint key: everything it writes is signed
// (exports, named checkpoints, offloaded and drained session files), and
// everything it reads must verify; a restart with the same key finds its
// drained sessions, one with another key or without signatures refuses them
// and keeps the files.
#include <memory>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_format.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

namespace fmt = checkpoint_format;
using testing::TestSigning;

class SignedStoreTest : public ::testing::Test {
 protected:
  SignedStoreTest()
      : rng_(TestSeed()),
        model_(testing::MicroModel(rng_())),
        backend_(MakeCpuBackend(model_)),
        dir_(TestTempPath("signed-store")) {}

  std::unique_ptr<SessionStore> Open(const CheckpointSigning& signing) {
    SessionStoreOptions options;
    options.state_dir = dir_;
    options.device_budget_bytes = 0;  // every idle session goes to disk
    options.host_tier = false;
    options.checkpoint_signing = signing;
    absl::StatusOr<std::unique_ptr<SessionStore>> store = SessionStore::Open(*backend_, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::string CreateWithTokens(SessionStore& store, size_t n) {
    const std::string id = store.Create("alice")->id;
    std::vector<uint8_t> tokens(n);
    for (uint8_t& t : tokens) t = static_cast<uint8_t>(rng_());
    EXPECT_TRUE(store
                    .WithSession(id, "alice",
                                 [&](SessionLease& lease) {
                                   return store.ApplyChunk(lease, tokens, LogitsMode::kNone,
                                                           nullptr);
                                 })
                    .ok());
    return id;
  }

  // Ends in a seal (any signed format version).
  static bool IsSigned(const std::string& bytes) {
    return bytes.size() > fmt::kSealSize &&
           bytes.substr(bytes.size() - fmt::kSealSize, fmt::kSealMagic.size()) == fmt::kSealMagic;
  }

  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Backend> backend_;
  std::string dir_;
};

TEST_F(SignedStoreTest, EverythingWrittenIsSignedAndRestartsWithTheSameKey) {
  const CheckpointSigning key = TestSigning();
  std::string id, exported;
  uint64_t pulse = 0;
  {
    auto store = Open(key);
    id = CreateWithTokens(*store, 5 + rng_() % 20);
    absl::StatusOr<ExportedCheckpoint> e = store->Export(id, "alice", "named");
    ASSERT_TRUE(e.ok()) << e.status();
    exported = e->bytes;
    pulse = e->pulse_id;
    EXPECT_TRUE(IsSigned(exported));
    EXPECT_TRUE(store->RestoreFromName("alice", "named", pulse).ok());
    EXPECT_TRUE(store->RestoreFromBytes("alice", exported, pulse).ok());
    // Offloaded (budget 0) and read back from disk: signed file, verified.
    EXPECT_EQ(store->Get(id, "alice")->residency, Residency::kDisk);
    EXPECT_TRUE(store->Export(id, "alice").ok());
    ASSERT_TRUE(store->CheckpointAll().ok());
  }
  auto restarted = Open(key);
  absl::StatusOr<LoadReport> loaded = restarted->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_GE(loaded->loaded, 1u);
  EXPECT_TRUE(loaded->errors.empty());
  absl::StatusOr<ExportedCheckpoint> again = restarted->Export(id, "alice");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->bytes, exported);
}

TEST_F(SignedStoreTest, AnotherKeyOrNoSignatureIsRefusedAndTheFilesStay) {
  std::string id, signed_bytes, unsigned_bytes;
  {
    auto store = Open(TestSigning());
    id = CreateWithTokens(*store, 7);
    signed_bytes = store->Export(id, "alice", "named")->bytes;
    ASSERT_TRUE(store->CheckpointAll().ok());
  }
  {
    auto other = Open(TestSigning("a different key for a different replica set"));
    absl::StatusOr<LoadReport> loaded = other->LoadFromStateDir();
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->loaded, 0u);
    ASSERT_EQ(loaded->errors.size(), 1u);
    EXPECT_NE(loaded->errors[0].find("is signed with key"), std::string::npos)
        << loaded->errors[0];
    absl::Status named = other->RestoreFromName("alice", "named", std::nullopt).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(named)) << named;
    absl::Status bytes = other->RestoreFromBytes("alice", signed_bytes, std::nullopt).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(bytes)) << bytes;
  }
  {  // Without a key the signed files read on their CRCs (backward compatible).
    auto keyless = Open({});
    absl::StatusOr<LoadReport> loaded = keyless->LoadFromStateDir();
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->loaded, 1u);
    // Used, so that it is written again (unsigned) when it goes back to disk.
    ASSERT_TRUE(
        keyless->WithSession(id, "alice", [](SessionLease&) { return absl::OkStatus(); }).ok());
    unsigned_bytes = keyless->Export(id, "alice")->bytes;
    EXPECT_FALSE(IsSigned(unsigned_bytes));
    ASSERT_TRUE(keyless->CheckpointAll().ok());
  }
  {
    auto strict = Open(TestSigning());
    absl::StatusOr<LoadReport> loaded = strict->LoadFromStateDir();
    ASSERT_TRUE(loaded.ok());
    EXPECT_EQ(loaded->loaded, 0u);
    ASSERT_EQ(loaded->errors.size(), 1u);
    EXPECT_NE(loaded->errors[0].find("is not signed"), std::string::npos) << loaded->errors[0];
    absl::Status s = strict->RestoreFromBytes("alice", unsigned_bytes, std::nullopt).status();
    EXPECT_TRUE(absl::IsFailedPrecondition(s)) << s;
  }
  // --allow_unsigned_checkpoints: the unsigned file loads, and is signed
  // from its next write on.
  auto lenient = Open(TestSigning(testing::kFuzzKeyMaterial, /*allow_unsigned=*/true));
  absl::StatusOr<LoadReport> loaded = lenient->LoadFromStateDir();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->loaded, 1u) << (loaded->errors.empty() ? "" : loaded->errors[0]);
  absl::StatusOr<ExportedCheckpoint> e = lenient->Export(id, "alice");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(IsSigned(e->bytes));
}

}  // namespace
}  // namespace hecate
