// Named checkpoints against a live daemon: the per-user storage quota
// (RESOURCE_EXHAUSTED naming it, nothing stored), ListCheckpoints showing
// only the caller's own with sizes, times and pulse ids, DeleteCheckpoint
// freeing quota and answering another user NOT_FOUND exactly as for a name
// that never existed, usage that survives a restart, and the disk reserve
// that named checkpoints may not take while drain still can.
#include <signal.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

std::vector<std::string> Names(const v1::ListCheckpointsResponse& list) {
  std::vector<std::string> names;
  for (const v1::CheckpointInfo& c : list.checkpoints()) names.push_back(c.name());
  return names;
}

class CheckpointStorageTest : public E2eTest {
 protected:
  // Bytes of one checkpoint of a session at `pulse` (from a plain export;
  // the size may depend on the pulse id, e.g. through a transcript).
  int64_t CheckpointBytes(size_t pulse) {
    const std::string id = SessionAt(*alice_, pulse);
    const int64_t bytes = alice_->ExportCheckpoint(id)->size_bytes();
    EXPECT_TRUE(alice_->DeleteSession(id).ok());
    return bytes;
  }

  void Restart(std::vector<std::string> flags) {
    absl::StatusOr<int> exit_code = daemon_->Stop(SIGTERM);
    ASSERT_TRUE(exit_code.ok()) << exit_code.status();
    ASSERT_EQ(*exit_code, 0);
    StartDaemon(std::move(flags));
  }

  std::string SessionAt(HecateClient& client, size_t pulse) {
    const std::string id = client.CreateSession()->id();
    std::unique_ptr<StreamSession> stream = *client.OpenStream();
    EXPECT_TRUE(stream->Call(TopKRequest(id, Text(pulse, pulse), 1)).ok());
    EXPECT_TRUE(stream->Finish().ok());
    return id;
  }
};

TEST_F(CheckpointStorageTest, QuotaListDeleteAndIsolation) {
  StartDaemon();
  const int64_t size = CheckpointBytes(50);
  // Room for two checkpoints, not three.
  const int64_t quota = 2 * size + size / 2;
  const std::vector<std::string> flags = {
      absl::StrCat("--checkpoint_quota_bytes_per_user=", quota)};
  Restart(flags);

  const std::string id = SessionAt(*alice_, 50);
  const absl::Time before = absl::Now() - absl::Seconds(5);
  ASSERT_TRUE(alice_->ExportCheckpoint(id, "a").ok());
  ASSERT_TRUE(alice_->ExportCheckpoint(id, "b", /*omit_data=*/true).ok());
  absl::StatusOr<v1::ExportCheckpointResponse> third = alice_->ExportCheckpoint(id, "c");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();
  const std::string message(third.status().message());
  EXPECT_TRUE(absl::StrContains(message, "checkpoint storage quota per user")) << message;
  EXPECT_TRUE(absl::StrContains(message, absl::StrCat(quota, " bytes"))) << message;
  EXPECT_TRUE(absl::StrContains(message, absl::StrCat("uses ", 2 * size))) << message;
  EXPECT_TRUE(absl::StrContains(message, absl::StrCat("needs ", size))) << message;

  absl::StatusOr<v1::ListCheckpointsResponse> mine = alice_->ListCheckpoints();
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(Names(*mine), (std::vector<std::string>{"a", "b"}));  // nothing stored for c
  EXPECT_EQ(mine->used_bytes(), 2 * size);
  EXPECT_EQ(mine->quota_bytes(), quota);
  for (const v1::CheckpointInfo& c : mine->checkpoints()) {
    EXPECT_EQ(c.size_bytes(), size);
    ASSERT_TRUE(c.has_pulse_id());
    EXPECT_EQ(c.pulse_id(), 50u);
    const absl::Time created = absl::FromUnixNanos(
        google::protobuf::util::TimeUtil::TimestampToNanoseconds(c.create_time()));
    EXPECT_GE(created, before);
    EXPECT_LE(created, absl::Now() + absl::Seconds(5));
  }

  // bob sees none of them; deleting or restoring one is NOT_FOUND, worded
  // exactly as for a name nobody ever stored.
  absl::StatusOr<v1::ListCheckpointsResponse> bobs = bob_->ListCheckpoints();
  ASSERT_TRUE(bobs.ok()) << bobs.status();
  EXPECT_TRUE(bobs->checkpoints().empty());
  EXPECT_EQ(bobs->used_bytes(), 0);
  const absl::Status theirs = bob_->DeleteCheckpoint("a");
  const absl::Status nobodys = bob_->DeleteCheckpoint("zz");
  EXPECT_EQ(theirs.code(), absl::StatusCode::kNotFound) << theirs;
  EXPECT_EQ(theirs.message(), "no checkpoint named 'a'");
  EXPECT_EQ(nobodys.message(), "no checkpoint named 'zz'");
  v1::RestoreCheckpointRequest steal;
  steal.set_checkpoint_name("a");
  EXPECT_EQ(bob_->RestoreCheckpoint(steal).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Names(*alice_->ListCheckpoints()), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(alice_->DeleteCheckpoint("../bob").code(), absl::StatusCode::kInvalidArgument);

  // Deleting frees the quota.
  ASSERT_TRUE(alice_->DeleteCheckpoint("a").ok());
  EXPECT_EQ(alice_->DeleteCheckpoint("a").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(alice_->ExportCheckpoint(id, "c").ok());

  // After a restart the stored bytes still count.
  Restart(flags);
  EXPECT_EQ(Names(*alice_->ListCheckpoints()), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(alice_->ExportCheckpoint(id, "d").status().code(),
            absl::StatusCode::kResourceExhausted);
  v1::RestoreCheckpointRequest by_name;
  by_name.set_checkpoint_name("c");
  by_name.set_expected_pulse_id(50);
  EXPECT_TRUE(alice_->RestoreCheckpoint(by_name).ok());
}

TEST_F(CheckpointStorageTest, NamedCheckpointsLeaveTheReserveToDrain) {
  // A reserve larger than any disk: no named checkpoint fits beside it.
  StartDaemon({"--reserved_state_bytes=1000000000000000000"});
  const std::string id = SessionAt(*alice_, 40);
  absl::StatusOr<v1::ExportCheckpointResponse> named = alice_->ExportCheckpoint(id, "x");
  EXPECT_EQ(named.status().code(), absl::StatusCode::kResourceExhausted) << named.status();
  EXPECT_TRUE(absl::StrContains(named.status().message(), "reserved")) << named.status();
  EXPECT_TRUE(alice_->ListCheckpoints()->checkpoints().empty());
  // Exporting the bytes alone stores nothing and is not limited.
  EXPECT_TRUE(alice_->ExportCheckpoint(id).ok());
  // The reserve is drain's to use: the session survives a restart.
  Restart({});
  absl::StatusOr<v1::Session> back = alice_->GetSession(id);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->pulse_id(), 40u);
}

}  // namespace
}  // namespace hecate::testing
