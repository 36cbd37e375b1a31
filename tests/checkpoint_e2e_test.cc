// Checkpoints through the API: restore with a wrong expected pulse id is
// FAILED_PRECONDITION naming both ids and changes nothing; with the right one
// the restored session continues bit for bit like the original.
#include <random>

#include "base/test_seed.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

class CheckpointE2eTest : public E2eTest {};

TEST_F(CheckpointE2eTest, RestoreVerifiesThePulseAndContinuesBitExactly) {
  StartDaemon();
  const uint64_t seed = std::random_device{}();
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  ASSERT_TRUE(stream->Call(TopKRequest(id, Text(333, seed), 1)).ok());
  absl::StatusOr<v1::ExportCheckpointResponse> checkpoint = alice_->ExportCheckpoint(id, "at-333");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->pulse_id(), 333u);
  EXPECT_EQ(checkpoint->name(), "at-333");

  v1::RestoreCheckpointRequest wrong;
  wrong.set_checkpoint_data(checkpoint->checkpoint_data());
  wrong.set_expected_pulse_id(332);
  absl::Status refused = alice_->RestoreCheckpoint(wrong).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("333"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("332"), std::string::npos) << refused;
  EXPECT_EQ(alice_->ListSessions()->size(), 1u);  // nothing was created

  v1::RestoreCheckpointRequest right;
  right.set_checkpoint_data(checkpoint->checkpoint_data());
  right.set_expected_pulse_id(333);
  absl::StatusOr<v1::Session> copy = alice_->RestoreCheckpoint(right);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(copy->pulse_id(), 333u);
  // Also from the stored name.
  v1::RestoreCheckpointRequest by_name;
  by_name.set_checkpoint_name("at-333");
  absl::StatusOr<v1::Session> named = alice_->RestoreCheckpoint(by_name);
  ASSERT_TRUE(named.ok()) << named.status();

  // Same next chunk and a seeded continuation: bit for bit the same.
  const std::string next = Text(97, seed + 1);
  auto run = [&](const std::string& session) {
    v1::StreamRequest chunk = TopKRequest(session, next, 256);
    absl::StatusOr<v1::StreamResponse> top = stream->Call(chunk);
    EXPECT_TRUE(top.ok()) << top.status();
    v1::StreamRequest sample;
    sample.set_session_id(session);
    sample.set_input("\n");
    sample.mutable_output()->mutable_sample()->set_max_tokens(40);
    sample.mutable_output()->mutable_sample()->set_seed(7);
    sample.mutable_output()->mutable_sample()->set_temperature(0.9f);
    std::string text;
    absl::StatusOr<v1::StreamResponse> done = stream->Call(sample, [&](const v1::StreamResponse& r) {
      text.push_back(static_cast<char>(r.token().token()));
    });
    EXPECT_TRUE(done.ok());
    return std::make_pair(top->done().SerializeAsString(), text);
  };
  const auto original = run(id);
  const auto restored = run(copy->id());
  const auto from_name = run(named->id());
  // ChunkDone carries forward_seconds, which differs; compare the top-k.
  v1::ChunkDone a, b, c;
  a.ParseFromString(original.first);
  b.ParseFromString(restored.first);
  c.ParseFromString(from_name.first);
  ASSERT_EQ(a.top_k_size(), 256);
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(a.top_k(i).token(), b.top_k(i).token());
    EXPECT_EQ(a.top_k(i).logprob(), b.top_k(i).logprob());  // bitwise
    EXPECT_EQ(a.top_k(i).logprob(), c.top_k(i).logprob());
  }
  EXPECT_EQ(original.second, restored.second);
  EXPECT_EQ(original.second, from_name.second);
  EXPECT_EQ(original.second.size(), 40u);
  // The checkpoints of both sessions are now byte-identical too.
  EXPECT_EQ(alice_->ExportCheckpoint(id)->checkpoint_data(),
            alice_->ExportCheckpoint(copy->id())->checkpoint_data());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(CheckpointE2eTest, CorruptOrForeignCheckpointsChangeNothing) {
  StartDaemon();
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  ASSERT_TRUE(stream->Call(TopKRequest(id, Text(50, 3), 1)).ok());
  std::string bytes = alice_->ExportCheckpoint(id)->checkpoint_data();
  std::mt19937_64 rng(TestSeed());
  for (int trial = 0; trial < 20; ++trial) {
    std::string corrupt = bytes;
    corrupt[rng() % corrupt.size()] ^= static_cast<char>(1 + rng() % 255);
    v1::RestoreCheckpointRequest request;
    request.set_checkpoint_data(corrupt);
    request.set_session_id(id);  // over the live session
    absl::Status s = alice_->RestoreCheckpoint(request).status();
    EXPECT_TRUE(s.code() == absl::StatusCode::kDataLoss ||
                s.code() == absl::StatusCode::kInvalidArgument ||
                s.code() == absl::StatusCode::kFailedPrecondition) << s;
  }
  v1::RestoreCheckpointRequest truncated;
  truncated.set_checkpoint_data(bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(alice_->RestoreCheckpoint(truncated).status().code(), absl::StatusCode::kDataLoss);
  v1::RestoreCheckpointRequest empty;
  EXPECT_EQ(alice_->RestoreCheckpoint(empty).status().code(), absl::StatusCode::kInvalidArgument);
  v1::RestoreCheckpointRequest bad_name;
  bad_name.set_checkpoint_name("../../etc/passwd");
  EXPECT_EQ(alice_->RestoreCheckpoint(bad_name).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(alice_->ExportCheckpoint(id, "a/b").status().code(), absl::StatusCode::kInvalidArgument);
  // The live session is exactly as before.
  EXPECT_EQ(alice_->GetSession(id)->pulse_id(), 50u);
  EXPECT_EQ(alice_->ExportCheckpoint(id)->checkpoint_data(), bytes);
  EXPECT_EQ(alice_->ListSessions()->size(), 1u);
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace hecate::testing
