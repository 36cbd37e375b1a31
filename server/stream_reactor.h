// StreamReactor: one bidirectional Stream call (hecate.v1.Hecate.Stream).
//
// Reads chunks, validates each, and queues it behind earlier chunks of the
// same session (per-session order; different sessions run concurrently on
// the executor, up to --max_inflight_per_stream requests). Replies, including
// generated tokens as they are sampled, go out through one WriteQueue. A
// per-request failure is a StreamResponse with `error`; the stream ends on
// client half-close (after every accepted request is answered), on
// cancellation (work stops at the next token), when the in-flight limit is
// exceeded (RESOURCE_EXHAUSTED), when a message does not parse as a
// StreamRequest (INVALID_ARGUMENT, after answering the requests before it;
// the stream is raw for this, see server/raw_message.h) or when the server
// drains (UNAVAILABLE). Backpressure: while the replies queued for the
// client are over ServiceLimits' caps, no further request is read (the
// client's writes then wait on flow control), so a client that sends without
// reading holds a bounded amount of the daemon's memory. Fields are checked
// for size before anything copies them, and a rejected request echoes at
// most the documented sizes of its ids.
// Owns itself: deleted in OnDone, which gRPC calls only after Finish, which
// is called only when no task references the reactor. Constructed with the
// outcome of authenticating the call (ServiceContext::Authenticate): a
// refusal ends the stream with it before anything is read.
#ifndef HECATE_SERVER_STREAM_REACTOR_H_
#define HECATE_SERVER_STREAM_REACTOR_H_

#include <atomic>
#include <deque>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "server/chunk_program.h"
#include "server/service_context.h"
#include "server/write_queue.h"

namespace hecate {

class StreamReactor : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamReactor(ServiceContext* context, absl::StatusOr<std::string> user);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct Pending {
    v1::StreamRequest request;
    absl::Time arrival;
  };

  void OnReadDoneLocked(bool ok) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the next read unless reads are over, the stream is ending, one
  // is outstanding, or the write queue is full (then OnWriteDone calls this
  // again as it drains).
  void MaybeRead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Accept(v1::StreamRequest request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleNext(const std::string& session_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs on the executor: starts the request (session_request.h).
  void Run(Pending pending);
  // The request's last reply, then the next of its session.
  void Complete(const Pending& pending, absl::StatusOr<ChunkOutcome> outcome);
  void Reply(const v1::StreamResponse& response) ABSL_LOCKS_EXCLUDED(mu_);
  void PushReply(const v1::StreamResponse& response) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndStream(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The status to Finish with, once: when reads are over (or the stream is
  // ending), nothing is in flight and every reply is written.
  std::optional<grpc::Status> TakeFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finishes `reactor` when `status` holds one. Static: once another thread
  // has taken the finish, OnDone may delete the reactor at any moment, so a
  // caller without a status must not even make a member call on it (UBSan in
  // server/fuzz/stream_fuzzer caught Run doing so after its last reply).
  static void FinishWith(StreamReactor* reactor, std::optional<grpc::Status> status);

  ServiceContext* const context_;
  const absl::Time start_;
  std::string user_;
  std::atomic<bool> cancel_{false};

  absl::Mutex mu_;
  grpc::ByteBuffer incoming_ ABSL_GUARDED_BY(mu_);  // the message being read
  WriteQueue<StreamReactor, grpc::ByteBuffer> writes_ ABSL_GUARDED_BY(mu_);
  // Accepted requests not yet running, per session; a session is a key here
  // exactly while one of its requests runs.
  absl::flat_hash_map<std::string, std::deque<Pending>> waiting_ ABSL_GUARDED_BY(mu_);
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;  // accepted, not yet answered
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> end_status_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hecate

#endif  // HECATE_SERVER_STREAM_REACTOR_H_
