// StreamSession: one open hecate.v1 Stream call (HecateClient::OpenStream).
//
//   std::unique_ptr<StreamSession> stream = *client->OpenStream();
//   v1::StreamRequest request;
//   request.set_request_id(stream->NextRequestId());
//   request.set_session_id(session.id());
//   request.set_input("Hello, world");
//   request.mutable_output()->mutable_top_k()->set_k(5);
//   absl::StatusOr<v1::StreamResponse> done = stream->Call(request);
//   ...
//   absl::Status status = stream->Finish();
//
// Many requests can be in flight on one stream, for any of the caller's
// sessions; responses carry their request id. Reading has two modes, chosen at
// open time:
//   * blocking: ReadFor(id) returns the next response of that request and
//     queues other requests' responses for their readers, so several threads
//     can each wait on their own request; ReadNext() takes responses in
//     arrival order. Call() = Send + ReadFor until the request's last
//     response.
//   * callback: a reader thread passes every response to the callback; the
//     Read methods and Call() answer FAILED_PRECONDITION.
// Send, the Read methods, WritesDone and Cancel are thread-safe. Finish is
// called once, after the last use; the destructor cancels a stream that was
// not finished and waits for it to end.
#ifndef HECATE_CLIENT_STREAM_SESSION_H_
#define HECATE_CLIENT_STREAM_SESSION_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"
#include "proto/hecate/v1/hecate.grpc.pb.h"

namespace hecate {

class StreamSession {
 public:
  using ResponseCallback = std::function<void(const v1::StreamResponse& response)>;

  // Starts the call. `context` already carries metadata and deadline; the
  // channel is kept alive as long as the stream. Use HecateClient::OpenStream.
  StreamSession(std::shared_ptr<grpc::Channel> channel, v1::Hecate::Stub* stub,
                std::unique_ptr<grpc::ClientContext> context, ResponseCallback on_response);
  ~StreamSession();

  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

  // "r1", "r2", ...: unique within this stream.
  std::string NextRequestId();

  // Writes one request. After the stream has ended (or after WritesDone) it
  // fails: with the stream's final status when that is an error, else
  // FAILED_PRECONDITION.
  absl::Status Send(const v1::StreamRequest& request);

  // The next response carrying `request_id`. When the stream ends first:
  // its final status if that is an error, else OUT_OF_RANGE naming the id.
  absl::StatusOr<v1::StreamResponse> ReadFor(absl::string_view request_id);

  // The next response of any request, in arrival order (queued ones first).
  absl::StatusOr<v1::StreamResponse> ReadNext();

  // Sends `request` and reads its responses up to the last one. Token
  // responses go to `on_token` (may be null). Returns the final response
  // (`done` set); a per-request error is returned as its status.
  absl::StatusOr<v1::StreamResponse> Call(const v1::StreamRequest& request,
                                          const ResponseCallback& on_token = nullptr);

  // Tells the server no more requests will come; responses keep arriving.
  absl::Status WritesDone();

  // Cancels the call: the server stops work promptly; pending reads end
  // with CANCELLED.
  void Cancel();

  // Half-closes if needed, discards unread responses (blocking mode) or
  // waits for the reader thread (callback mode), and returns the call's final
  // status. Call once.
  absl::Status Finish();

 private:
  // Reads one message from the wire into `pending_`, or records the end of
  // the stream. Called with `mu_` held by a thread that set `reading_`.
  void ReadOneLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the call once Read has returned false.
  void FinishCallLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReaderThreadLoop();
  // Takes the first queued response matching `request_id` (any when empty),
  // reading from the wire until one arrives or the stream ends.
  absl::StatusOr<v1::StreamResponse> TakeResponse(absl::string_view request_id, bool any);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamRequest, v1::StreamResponse>> call_;
  const ResponseCallback on_response_;
  std::thread reader_thread_;
  std::atomic<uint64_t> next_request_number_{1};

  // Serialises writes (gRPC allows one writer and one reader at a time).
  absl::Mutex write_mu_;
  bool writes_done_ ABSL_GUARDED_BY(write_mu_) = false;

  absl::Mutex mu_;
  absl::CondVar changed_;
  std::deque<v1::StreamResponse> pending_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status end_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hecate

#endif  // HECATE_CLIENT_STREAM_SESSION_H_
