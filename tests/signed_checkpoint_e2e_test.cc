// Signed checkpoints through hecated (issue 13, item 3): with
// --checkpoint_key_file, an exported checkpoint whose pulse id and phases were
// edited and whose CRCs were recomputed is refused (DATA_LOSS, the signature),
// as is one with its signature cut off; the live session is untouched. A
// restart with the same key finds the drained session; one with another key
// refuses it (FAILED_PRECONDITION) and leaves its file, so the right key
// finds it again.
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <random>
#include <string>

#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "sessions/checkpoint_test_util.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

constexpr absl::string_view kSealMagic("\x89HECSIG\n", 8);
constexpr size_t kSealSize = 48;

class SignedCheckpointE2eTest : public E2eTest {
 protected:
  static std::string WriteKey(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string hex;
    for (int i = 0; i < 64; ++i) hex.push_back("0123456789abcdef"[rng() % 16]);
    const std::string path = TestTempPath("checkpoint-key");
    std::ofstream(path) << hex << "\n";
    ::chmod(path.c_str(), 0600);
    return path;
  }

  absl::Status Restore(const std::string& bytes, const std::string& over_id) {
    v1::RestoreCheckpointRequest request;
    request.set_checkpoint_data(bytes);
    request.set_session_id(over_id);
    return alice_->RestoreCheckpoint(request).status();
  }

  void Restart(const std::string& key_file) {
    absl::StatusOr<int> exit_code = daemon_->Stop(SIGTERM);  // drain
    ASSERT_TRUE(exit_code.ok()) << exit_code.status();
    ASSERT_EQ(*exit_code, 0);
    StartDaemon({"--checkpoint_key_file=" + key_file});
  }
};

TEST_F(SignedCheckpointE2eTest, ForgeriesAreRefusedAndTheSameKeyFindsDrainedSessions) {
  const uint64_t seed = TestSeed();
  const std::string key = WriteKey(seed), other_key = WriteKey(seed + 1);
  StartDaemon({"--checkpoint_key_file=" + key});
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  ASSERT_TRUE(stream->Call(TopKRequest(id, Text(20, seed), 1)).ok());
  ASSERT_TRUE(stream->Finish().ok());
  const std::string bytes = alice_->ExportCheckpoint(id)->checkpoint_data();
  ASSERT_GT(bytes.size(), kSealSize);
  EXPECT_EQ(bytes.substr(bytes.size() - kSealSize, kSealMagic.size()), kSealMagic);

  // The hostile client's edit: pulse 20 -> 21 with every phase to match.
  std::string forged = bytes;
  PutU64At(forged, kPulseIdOffset, 21);
  const v1::ModelInfo info = *alice_->GetModelInfo();
  for (int j = 0; j < info.periods_size(); ++j) {
    PutU64At(forged, PhaseOffset(j), 21 % static_cast<uint64_t>(info.periods(j)));
  }
  ASSERT_TRUE(RecomputeChecksums(forged));
  absl::Status s = Restore(forged, id);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("signature does not match its bytes"), std::string::npos) << s;
  for (size_t cut : {size_t{1}, kSealSize}) {
    s = Restore(bytes.substr(0, bytes.size() - cut), id);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find("seal is missing or truncated"), std::string::npos) << s;
  }
  EXPECT_EQ(alice_->GetSession(id)->pulse_id(), 20u);
  EXPECT_TRUE(Restore(bytes, id).ok());

  Restart(key);
  absl::StatusOr<v1::Session> back = alice_->GetSession(id);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pulse_id(), 20u);
  EXPECT_EQ(alice_->ExportCheckpoint(id)->checkpoint_data(), bytes);

  Restart(other_key);
  EXPECT_EQ(alice_->GetSession(id).status().code(), absl::StatusCode::kNotFound);
  s = alice_->RestoreCheckpoint([&] {
               v1::RestoreCheckpointRequest r;
               r.set_checkpoint_data(bytes);
               return r;
             }())
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("is signed with key"), std::string::npos) << s;

  Restart(key);  // the drained file was kept
  back = alice_->GetSession(id);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pulse_id(), 20u);
}

}  // namespace
}  // namespace hecate::testing
