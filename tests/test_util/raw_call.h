// Raw calls for end-to-end tests: any bytes to any hecate.v1 method through
// grpc::GenericStub, bypassing the typed client, so tests can send what a
// hostile client sends (bytes that are no message, floods it never reads
// the answers to).
//
//   RawStream stream(daemon->grpc_target(), "/hecate.v1.Hecate/Stream", key);
//   stream.Write(request.SerializeAsString());
//   std::optional<std::string> reply = stream.Read();
//   grpc::Status status = stream.Finish();
#ifndef HECATE_TESTS_TEST_UTIL_RAW_CALL_H_
#define HECATE_TESTS_TEST_UTIL_RAW_CALL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/status.h"

namespace hecate::testing {

// One message's wire bytes as a grpc::ByteBuffer, and back.
grpc::ByteBuffer BytesToBuffer(const std::string& bytes);
std::string BufferToBytes(const grpc::ByteBuffer& buffer);

// One unary call of `method` (e.g. "/hecate.v1.Hecate/GetSession") with
// `request` as its wire bytes; `response` (optional) gets the reply's bytes.
grpc::Status RawUnaryCall(const std::string& target, const std::string& method,
                          const std::string& api_key, const std::string& request,
                          std::string* response = nullptr);

// One streaming call (any method: on the wire every call is a stream).
// Writes and reads may be outstanding at once; neither blocks forever.
class RawStream {
 public:
  // `small_receive_window`: the client's HTTP/2 window stays at 64 KB (no
  // BDP probing), so replies it does not read stay on the server's side.
  RawStream(const std::string& target, const std::string& method, const std::string& api_key,
            bool small_receive_window = false);
  ~RawStream();  // cancels the call if it is not finished

  // Sends one message. False when the write failed or did not complete
  // within `timeout` (the server stopped reading); the write then stays
  // outstanding and the next Write, WritesDone or Finish waits for it first.
  bool Write(const std::string& bytes, absl::Duration timeout = absl::Seconds(30));
  // The next message; nullopt at the end of the stream or after `timeout`.
  std::optional<std::string> Read(absl::Duration timeout = absl::Seconds(60));
  void WritesDone();
  grpc::Status Finish();

 private:
  // Waits until `tag` completes; its ok, or nullopt after `timeout`.
  std::optional<bool> Await(intptr_t tag, absl::Duration timeout);
  bool AwaitPendingWrite(absl::Duration timeout);

  grpc::ClientContext context_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  std::map<intptr_t, bool> completed_;  // tags done but not yet awaited
  intptr_t next_tag_ = 1;
  std::optional<intptr_t> pending_write_;
  bool finished_ = false;
};

}  // namespace hecate::testing

#endif  // HECATE_TESTS_TEST_UTIL_RAW_CALL_H_
