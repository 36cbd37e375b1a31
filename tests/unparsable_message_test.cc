// Bytes that are not the request type, sent raw (grpc::GenericStub): unary
// RPCs answer INVALID_ARGUMENT naming the expected type (gRPC's typed
// handlers answered a bare UNIMPLEMENTED); on Stream the call ends with
// INVALID_ARGUMENT after answering the requests before the bad message
// (typed reads saw a half-close: the stream ended OK and every request
// after it was silently dropped). The daemon keeps serving.
#include "tests/test_util/e2e.h"
#include "tests/test_util/raw_call.h"

namespace hecate::testing {
namespace {

// Neither parses as any message: a tag of wire type 7 (there is none), and
// a length-delimited field longer than the bytes left.
const std::string kGarbage[] = {std::string("\xff\xff\xff\xff\x0f", 5),
                                std::string("\x0a\x7ftruncated", 11)};

std::string Method(const std::string& name) { return "/hecate.v1.Hecate/" + name; }

// INVALID_ARGUMENT naming the type the bytes did not parse as.
void ExpectUnparsable(const grpc::Status& status, const std::string& type) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("could not be parsed as hecate.v1." + type),
            std::string::npos)
      << status.error_message();
}

class UnparsableMessageTest : public E2eTest {};

TEST_F(UnparsableMessageTest, UnaryRpcsAnswerInvalidArgumentNamingTheType) {
  StartDaemon();
  const std::pair<std::string, std::string> methods[] = {
      {"CreateSession", "CreateSessionRequest"},
      {"GetSession", "GetSessionRequest"},
      {"ListSessions", "ListSessionsRequest"},
      {"DeleteSession", "DeleteSessionRequest"},
      {"ExportCheckpoint", "ExportCheckpointRequest"},
      {"RestoreCheckpoint", "RestoreCheckpointRequest"},
      {"ListCheckpoints", "ListCheckpointsRequest"},
      {"DeleteCheckpoint", "DeleteCheckpointRequest"},
      {"GetModelInfo", "GetModelInfoRequest"},
  };
  const std::string target = daemon_->grpc_target();
  for (const auto& [method, type] : methods) {
    for (const std::string& garbage : kGarbage) {
      SCOPED_TRACE(method);
      grpc::Status status = RawUnaryCall(target, Method(method), kAliceKey, garbage);
      ExpectUnparsable(status, type);
    }
    // Authentication still comes first.
    EXPECT_EQ(
        RawUnaryCall(target, Method(method), "not-a-key-at-all-0000", kGarbage[0]).error_code(),
        grpc::StatusCode::UNAUTHENTICATED);
  }
  // Well-formed raw bytes are served as before.
  std::string reply;
  ASSERT_TRUE(RawUnaryCall(target, Method("CreateSession"), kAliceKey, "", &reply).ok());
  v1::Session created;
  ASSERT_TRUE(created.ParseFromString(reply));
  EXPECT_EQ(created.id().size(), 32u);

  // Generate takes one request too (and streams its replies).
  for (const std::string& garbage : kGarbage) {
    RawStream generate(target, Method("Generate"), kAliceKey);
    EXPECT_TRUE(generate.Write(garbage));
    generate.WritesDone();
    EXPECT_FALSE(generate.Read().has_value());
    grpc::Status status = generate.Finish();
    ExpectUnparsable(status, "GenerateRequest");
  }

  // The daemon keeps serving.
  absl::StatusOr<v1::Session> session = alice_->CreateSession();
  ASSERT_TRUE(session.ok()) << session.status();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  EXPECT_TRUE(stream->Call(TopKRequest(session->id(), "hello", 3)).ok());
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(alice_->ListSessions()->size(), 2u);
}

TEST_F(UnparsableMessageTest, StreamEndsWithInvalidArgumentAndDropsNothingSilently) {
  StartDaemon();
  absl::StatusOr<v1::Session> session = alice_->CreateSession();
  ASSERT_TRUE(session.ok()) << session.status();
  const std::string id = session->id();
  uint64_t pulse_id = 0;
  for (const std::string& garbage : kGarbage) {
    RawStream stream(daemon_->grpc_target(), Method("Stream"), kAliceKey);
    v1::StreamRequest before = TopKRequest(id, "hello", 3);
    before.set_request_id("before");
    ASSERT_TRUE(stream.Write(before.SerializeAsString()));
    ASSERT_TRUE(stream.Write(garbage));
    v1::StreamRequest after = TopKRequest(id, "world", 3);
    after.set_request_id("after");
    // The server may already have ended the call: these may fail.
    (void)stream.Write(after.SerializeAsString());
    stream.WritesDone();
    std::vector<v1::StreamResponse> responses;
    while (std::optional<std::string> bytes = stream.Read()) {
      ASSERT_TRUE(responses.emplace_back().ParseFromString(*bytes));
    }
    grpc::Status status = stream.Finish();
    ExpectUnparsable(status, "StreamRequest");
    // The request before the bad message is answered; the one after it is
    // neither answered nor applied, and the status said so.
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].request_id(), "before");
    EXPECT_TRUE(responses[0].has_done());
    pulse_id += 5;
    EXPECT_EQ(alice_->GetSession(id)->pulse_id(), pulse_id);
  }
  // The daemon keeps serving, the session too.
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  absl::StatusOr<v1::StreamResponse> result = stream->Call(TopKRequest(id, "x", 1));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(alice_->GetSession(id)->pulse_id(), pulse_id + 1);
}

}  // namespace
}  // namespace hecate::testing
