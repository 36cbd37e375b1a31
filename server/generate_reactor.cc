#include "server/generate_reactor.h"

#include <string>
#include <utility>

#include "base/status_macros.h"
#include "server/grpc_status_util.h"
#include "server/raw_message.h"
#include "server/session_request.h"

namespace hecate {

GenerateReactor::GenerateReactor(ServiceContext* context, grpc::CallbackServerContext* call,
                                 const grpc::ByteBuffer* raw_request)
    : context_(context),
      call_(call),
      start_(absl::Now()),
      writes_(this, {}, context->WriteStarter()) {
  context_->metrics->active_streams->Add(1);
  absl::StatusOr<std::string> user = context_->Authenticate(*call_);
  absl::Status valid = user.status();
  if (valid.ok()) valid = ParseMessage(*raw_request, &request_);
  if (valid.ok()) valid = ValidateChunk(request_.prompt(), context_->limits, "prompt");
  if (valid.ok() && !request_.has_sampling()) {
    valid = absl::InvalidArgumentError("sampling is required");
  }
  if (valid.ok()) valid = ValidateSampling(request_.sampling(), context_->limits);
  if (valid.ok()) {
    context_->busy_requests.fetch_add(1);
    if (context_->executor->Post([this, u = *user] { Run(u); })) return;
    context_->busy_requests.fetch_sub(1);
    valid = absl::UnavailableError("server is shutting down");
  }
  std::optional<grpc::Status> status;
  {
    absl::MutexLock lock(&mu_);
    result_ = ToGrpcStatus(valid);
    status = TakeFinish();
  }
  FinishWith(this, std::move(status));
}

void GenerateReactor::Run(std::string user) {
  std::string session_id = request_.session_id();
  const bool temporary = session_id.empty();
  if (temporary) {
    absl::StatusOr<SessionInfo> created = context_->store->Create(user);
    if (!created.ok()) return Complete(user, session_id, false, created.status());
    session_id = created->id;
  }
  TokenSink sink = [this](const GeneratedTokenEvent& event) {
    v1::GenerateResponse response;
    response.set_pulse_id(event.pulse_id);
    *response.mutable_token() = ToGeneratedToken(event);
    Push(std::move(response));
  };
  SessionRequest session_request;
  session_request.user = user;
  session_request.session_id = session_id;
  session_request.input = request_.prompt();
  *session_request.spec.mutable_sample() = request_.sampling();
  if (request_.has_expected_pulse_id()) {
    session_request.expected_pulse_id = request_.expected_pulse_id();
  }
  session_request.cancel = &cancel_;
  session_request.arrival = start_;
  StartSessionRequest(*context_, std::move(session_request), std::move(sink),
                      [this, user, session_id, temporary](absl::StatusOr<ChunkOutcome> outcome) {
                        Complete(user, session_id, temporary, std::move(outcome));
                      });
}

void GenerateReactor::Complete(const std::string& user, const std::string& session_id,
                               bool temporary, absl::StatusOr<ChunkOutcome> outcome) {
  if (temporary) (void)context_->store->Delete(session_id, user);
  if (!outcome.ok()) {
    // Machine-readable for a client that resumes (before Finish, which
    // only happens after the result is set).
    if (std::optional<uint64_t> current = CurrentPulseId(outcome.status())) {
      call_->AddTrailingMetadata(kPulseIdTrailer, std::to_string(*current));
    }
    return SetResult(outcome.status());
  }
  v1::GenerateResponse done;
  done.set_pulse_id(outcome->pulse_id);
  *done.mutable_done() = ToChunkDone(*outcome);
  Push(std::move(done));
  if (outcome->finish_reason == v1::FINISH_REASON_CANCELLED) {
    return SetResult(absl::CancelledError("generation cancelled"));
  }
  SetResult(absl::OkStatus());
}

void GenerateReactor::SetResult(const absl::Status& result) {
  context_->busy_requests.fetch_sub(1);
  std::optional<grpc::Status> status;
  {
    absl::MutexLock lock(&mu_);
    result_ = ToGrpcStatus(result);
    status = TakeFinish();
  }
  FinishWith(this, std::move(status));
}

void GenerateReactor::Push(v1::GenerateResponse response) {
  absl::StatusOr<grpc::ByteBuffer> bytes = SerializeMessage(response);
  if (!bytes.ok()) {
    // Only a message over 2 GiB fails, which nothing here builds; stop
    // rather than silently skip a token.
    cancel_.store(true);
    return;
  }
  absl::MutexLock lock(&mu_);
  writes_.Push(*std::move(bytes));
}

void GenerateReactor::OnWriteDone(bool ok) {
  std::optional<grpc::Status> status;
  {
    absl::MutexLock lock(&mu_);
    writes_.OnWriteDone(ok);
    if (!ok) cancel_.store(true);
    status = TakeFinish();
  }
  FinishWith(this, std::move(status));
}

void GenerateReactor::OnCancel() { cancel_.store(true); }

std::optional<grpc::Status> GenerateReactor::TakeFinish() {
  if (finished_ || !result_.has_value() || !writes_.idle()) return std::nullopt;
  finished_ = true;
  context_->metrics->ObserveRequest("Generate", GrpcCodeName(result_->error_code()),
                                    absl::ToDoubleSeconds(absl::Now() - start_));
  return *result_;
}

void GenerateReactor::FinishWith(GenerateReactor* reactor, std::optional<grpc::Status> status) {
  // Called outside the lock: OnDone deletes the reactor and its mutex, and
  // may run as soon as Finish is called, by whichever thread took the
  // finish. A caller without a status must not touch the reactor at all.
  if (status.has_value()) reactor->Finish(*status);
}

void GenerateReactor::OnDone() {
  context_->metrics->active_streams->Add(-1);
  delete this;
}

}  // namespace hecate
