// Two hecated replicas sharing --checkpoint_dir, driven by the C++ client
// directly (no proxy): a session held by one is refused by the other
// (UNAVAILABLE) until its replica drains; the other then adopts it at the
// same pulse id and the client learns that pulse id (LastResumedPulse, from
// x-hecate-resumed-pulse). Proposed ids: INVALID_ARGUMENT when malformed,
// ALREADY_EXISTS when taken on any replica. A session's keep_on_expiry and
// pinned flags move with it. The proxy, spread and kill -9:
// deploy/replicas_live_test.py.
#include <signal.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/test_temp_dir.h"
#include "client/hecate_client.h"
#include "gtest/gtest.h"
#include "tests/test_util/daemon_process.h"

namespace hecate {
namespace {

using testing::DaemonOptions;
using testing::DaemonProcess;

std::unique_ptr<DaemonProcess> StartReplica(const std::string& name, const std::string& shared) {
  DaemonOptions options;
  options.state_dir = TestTempPath(name);
  options.extra_flags = {"--replica_id=" + name, "--checkpoint_dir=" + shared,
                         "--checkpoint_interval=1s", "--session_lease=30s"};
  absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon = DaemonProcess::Start(options);
  EXPECT_TRUE(daemon.ok()) << daemon.status();
  return daemon.ok() ? *std::move(daemon) : nullptr;
}

std::unique_ptr<HecateClient> Connect(const DaemonProcess& daemon) {
  ClientOptions options;
  options.target = daemon.grpc_target();
  options.deadline = absl::Seconds(60);
  return *HecateClient::Connect(options);
}

// Replicas a and b on one shared store, and a client of each.
class ReplicaAdoptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a = StartReplica("a", shared);
    b = StartReplica("b", shared);
    ASSERT_TRUE(a != nullptr && b != nullptr);
    to_a = Connect(*a);
    to_b = Connect(*b);
  }

  const std::string shared = TestTempDir("shared");
  std::unique_ptr<DaemonProcess> a, b;
  std::unique_ptr<HecateClient> to_a, to_b;
};

TEST_F(ReplicaAdoptionTest, DrainedSessionMovesWithItsPulseAndTheClientIsTold) {

  absl::StatusOr<v1::Session> session = to_a->CreateSession();
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string id = session->id();
  ASSERT_TRUE(to_a->StreamResumable(id, "shared sessions", 0).ok());

  // Proposed ids are checked on every replica.
  EXPECT_TRUE(absl::IsAlreadyExists(to_b->CreateSession(id).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(to_b->CreateSession("not-an-id").status()));

  // a holds it: b refuses (and asks a to hand it over).
  absl::StatusOr<v1::Session> refused = to_b->GetSession(id);
  EXPECT_TRUE(absl::IsUnavailable(refused.status())) << refused.status();

  // a drains: every session written to the shared store, leases released.
  absl::StatusOr<int> exit_code = a->Stop(SIGTERM);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);

  absl::StatusOr<v1::Session> adopted = to_b->GetSession(id);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->pulse_id(), 15u);
  EXPECT_EQ(to_b->LastResumedPulse(id), std::optional<uint64_t>(15));
  // Held by b now: the next call adopts nothing.
  ASSERT_TRUE(to_b->GetSession(id).ok());
  EXPECT_EQ(to_b->LastResumedPulse(id), std::nullopt);
  // It continues where it was.
  absl::StatusOr<ResumeResult> more = to_b->StreamResumable(id, "!", 15);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_EQ(more->pulse_id, 16u);
  EXPECT_TRUE(to_b->DeleteSession(id).ok());
  EXPECT_TRUE(absl::IsNotFound(to_b->GetSession(id).status()));
}

TEST_F(ReplicaAdoptionTest, FlagsMoveWithTheSession) {
  CreateSessionOptions keep;
  keep.keep_on_expiry = true;
  absl::StatusOr<v1::Session> session = to_a->CreateSession(keep);
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string id = session->id();
  SessionFlagsUpdate pin;
  pin.pinned = true;
  ASSERT_TRUE(to_a->UpdateSession(id, pin).ok());
  // a holds it: b refuses to change it (and asks a to hand it over).
  EXPECT_TRUE(absl::IsUnavailable(to_b->UpdateSession(id, pin).status()));

  absl::StatusOr<int> exit_code = a->Stop(SIGTERM);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  absl::StatusOr<v1::Session> adopted = to_b->GetSession(id);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_TRUE(adopted->pinned());
  EXPECT_TRUE(adopted->keep_on_expiry());
  SessionFlagsUpdate drop_keep;
  drop_keep.keep_on_expiry = false;
  absl::StatusOr<v1::Session> updated = to_b->UpdateSession(id, drop_keep);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_TRUE(updated->pinned());
  EXPECT_FALSE(updated->keep_on_expiry());
}

// Transcripts, forks and rewinds adopt like every other call about a
// session (none is UNAVAILABLE or NOT_FOUND on the replica that did not
// create it), and a fork made after adoption is itself shared.
TEST_F(ReplicaAdoptionTest, ForkTranscriptAndRewindAdoptTheSession) {

  absl::StatusOr<v1::Session> session = to_a->CreateSession();
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string id = session->id();
  const std::string text = "forks travel too";
  ASSERT_TRUE(to_a->StreamResumable(id, text, 0).ok());
  absl::StatusOr<int> exit_code = a->Stop(SIGTERM);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();

  // The first call about the session on b is a transcript read: it adopts.
  absl::StatusOr<std::string> transcript = to_b->ReadWholeTranscript(id);
  ASSERT_TRUE(transcript.ok()) << transcript.status();
  EXPECT_EQ(*transcript, text);
  absl::StatusOr<v1::Session> fork = to_b->ForkSession(id);
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ(fork->pulse_id(), text.size());
  // Rewind snapshots stay with the replica that took them (not in the
  // shared store): the adopted session reaches back to where it resumed.
  absl::StatusOr<v1::Session> rewound = to_b->RewindSession(id, 5);
  EXPECT_TRUE(absl::IsOutOfRange(rewound.status())) << rewound.status();
  EXPECT_NE(rewound.status().message().find(absl::StrCat(text.size())), absl::string_view::npos)
      << rewound.status();

  // b drains; a third replica adopts the fork, which b shared.
  exit_code = b->Stop(SIGTERM);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  std::unique_ptr<DaemonProcess> c = StartReplica("c", shared);
  ASSERT_TRUE(c != nullptr);
  std::unique_ptr<HecateClient> to_c = Connect(*c);
  absl::StatusOr<v1::Session> adopted_fork = to_c->GetSession(fork->id());
  ASSERT_TRUE(adopted_fork.ok()) << adopted_fork.status();
  EXPECT_EQ(adopted_fork->pulse_id(), text.size());
  absl::StatusOr<v1::Session> adopted = to_c->GetSession(id);
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->pulse_id(), text.size());
}

}  // namespace
}  // namespace hecate
