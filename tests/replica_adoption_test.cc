// Two hecated replicas sharing --checkpoint_dir, driven by the C++ client
// directly (no proxy): a session held by one is refused by the other
// (UNAVAILABLE) until its replica drains; the other then adopts it at the
// same pulse id and the client learns that pulse id (LastResumedPulse, from
// x-hecate-resumed-pulse). Proposed ids: INVALID_ARGUMENT when malformed,
// ALREADY_EXISTS when taken on any replica. The proxy, spread and kill -9:
// deploy/replicas_live_test.py.
#include <signal.h>

#include <memory>
#include <string>

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

TEST(ReplicaAdoptionTest, DrainedSessionMovesWithItsPulseAndTheClientIsTold) {
  const std::string shared = TestTempDir("shared");
  std::unique_ptr<DaemonProcess> a = StartReplica("a", shared);
  std::unique_ptr<DaemonProcess> b = StartReplica("b", shared);
  ASSERT_TRUE(a != nullptr && b != nullptr);
  std::unique_ptr<HecateClient> to_a = Connect(*a);
  std::unique_ptr<HecateClient> to_b = Connect(*b);

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

}  // namespace
}  // namespace hecate
