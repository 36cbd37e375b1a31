// GenerateReactor: one server-streaming Generate call: feeds the prompt to
// the caller's session (or to a temporary session deleted at the end),
// streams each sampled token as it is made, then a final `done` message.
// Runs on the executor; owns itself (deleted in OnDone). Raw like every
// method of HecateService: parses its request (INVALID_ARGUMENT when the
// bytes are not a GenerateRequest) and serialises its responses.
#ifndef HECATE_SERVER_GENERATE_REACTOR_H_
#define HECATE_SERVER_GENERATE_REACTOR_H_

#include <atomic>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "server/chunk_program.h"
#include "server/service_context.h"
#include "server/write_queue.h"

namespace hecate {

class GenerateReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  GenerateReactor(ServiceContext* context, grpc::CallbackServerContext* call,
                  const grpc::ByteBuffer* raw_request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  void Run(std::string user);  // on the executor: starts the request
  // The request's outcome: the `done` message (or the trailer of a refused
  // expected_pulse_id), the temporary session deleted, the call's status.
  void Complete(const std::string& user, const std::string& session_id, bool temporary,
                absl::StatusOr<ChunkOutcome> outcome);
  void SetResult(const absl::Status& result);
  void Push(v1::GenerateResponse response) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<grpc::Status> TakeFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finishes `reactor` when `status` holds one. Static: once another thread
  // has taken the finish, OnDone may delete the reactor at any moment, so a
  // caller without a status must not even make a member call on it (UBSan in
  // server/fuzz/stream_fuzzer caught Run doing so after its last reply).
  static void FinishWith(GenerateReactor* reactor, std::optional<grpc::Status> status);

  ServiceContext* const context_;
  grpc::CallbackServerContext* const call_;
  v1::GenerateRequest request_;  // parsed in the constructor, then read-only
  const absl::Time start_;
  std::atomic<bool> cancel_{false};

  absl::Mutex mu_;
  WriteQueue<GenerateReactor, grpc::ByteBuffer> writes_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> result_ ABSL_GUARDED_BY(mu_);  // set when the work is over
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hecate

#endif  // HECATE_SERVER_GENERATE_REACTOR_H_
