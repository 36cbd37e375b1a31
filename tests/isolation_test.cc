// Two users on one daemon: nothing of one user's sessions is visible or
// reachable by the other (NOT_FOUND, exactly as for a missing id); calls
// without a valid key are UNAUTHENTICATED.
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "proto/hecate/v1/hecate.grpc.pb.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

class IsolationTest : public E2eTest {};

TEST_F(IsolationTest, AnotherUsersSessionIsNotFoundForEveryVerb) {
  StartDaemon();
  absl::StatusOr<v1::Session> mine = alice_->CreateSession();
  ASSERT_TRUE(mine.ok()) << mine.status();
  const std::string id = mine->id();
  ASSERT_EQ(id.size(), 32u);
  std::unique_ptr<StreamSession> alice_stream = *alice_->OpenStream();
  ASSERT_TRUE(alice_stream->Call(TopKRequest(id, Text(100, 1), 3)).ok());

  // What bob sees for alice's id must equal what he sees for a missing id.
  const std::string missing = "0123456789abcdef0123456789abcdef";
  for (const std::string& target : {id, missing}) {
    SCOPED_TRACE(target);
    absl::Status get = bob_->GetSession(target).status();
    EXPECT_EQ(get.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(bob_->DeleteSession(target).code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(bob_->ExportCheckpoint(target).status().code(), absl::StatusCode::kNotFound);
    std::unique_ptr<StreamSession> stream = *bob_->OpenStream();
    EXPECT_EQ(stream->Call(TopKRequest(target, "x", 1)).status().code(), absl::StatusCode::kNotFound);
    (void)stream->Finish();
    // Restoring over alice's session with bob's own valid checkpoint.
    absl::StatusOr<v1::Session> bobs = bob_->CreateSession();
    ASSERT_TRUE(bobs.ok());
    v1::RestoreCheckpointRequest restore;
    restore.set_checkpoint_data(bob_->ExportCheckpoint(bobs->id())->checkpoint_data());
    restore.set_session_id(target);
    EXPECT_EQ(bob_->RestoreCheckpoint(restore).status().code(), absl::StatusCode::kNotFound);
    ASSERT_TRUE(bob_->DeleteSession(bobs->id()).ok());
  }
  // The messages do not tell the two apart either (modulo the id itself).
  std::string a(bob_->GetSession(id).status().message());
  std::string b(bob_->GetSession(missing).status().message());
  a.replace(a.find(id), id.size(), "ID");
  b.replace(b.find(missing), missing.size(), "ID");
  EXPECT_EQ(a, b);

  EXPECT_TRUE(bob_->ListSessions()->empty());
  ASSERT_EQ(alice_->ListSessions()->size(), 1u);
  // Alice's session is untouched by all of that.
  absl::StatusOr<v1::Session> after = alice_->GetSession(id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->pulse_id(), 100u);
  EXPECT_TRUE(alice_stream->Finish().ok());
}

TEST_F(IsolationTest, CallsWithoutAValidKeyAreUnauthenticated) {
  StartDaemon();
  for (const std::string key : {"", "not-a-key-at-all-0000", "alice-key-0123456789abcdeX"}) {
    std::unique_ptr<HecateClient> client = Client(key);
    EXPECT_EQ(client->CreateSession().status().code(), absl::StatusCode::kUnauthenticated) << key;
    EXPECT_EQ(client->ListSessions().status().code(), absl::StatusCode::kUnauthenticated);
    std::unique_ptr<StreamSession> stream = *client->OpenStream();
    EXPECT_EQ(stream->Call(TopKRequest("0123456789abcdef0123456789abcdef", "x", 1)).status().code(),
              absl::StatusCode::kUnauthenticated);
    (void)stream->Finish();
  }
  EXPECT_TRUE(alice_->ListSessions()->empty());
}

TEST_F(IsolationTest, TwoAuthorizationValuesAreUnauthenticated) {
  StartDaemon();
  auto stub = v1::Hecate::NewStub(
      grpc::CreateChannel(daemon_->grpc_target(), grpc::InsecureChannelCredentials()));
  // Two users' keys, or one key twice: ambiguous either way, never "first wins".
  for (const char* second : {kBobKey, kAliceKey}) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kAliceKey));
    context.AddMetadata("authorization", absl::StrCat("Bearer ", second));
    v1::Session session;
    const grpc::Status status = stub->CreateSession(&context, v1::CreateSessionRequest(), &session);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << second;
    EXPECT_NE(status.error_message().find("more than one `authorization`"), std::string::npos)
        << status.error_message();
  }
  EXPECT_TRUE(alice_->ListSessions()->empty());
  EXPECT_TRUE(bob_->ListSessions()->empty());
}

}  // namespace
}  // namespace hecate::testing
