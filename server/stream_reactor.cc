#include "server/stream_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/grpc_status_util.h"
#include "server/raw_message.h"
#include "server/session_request.h"
#include "sessions/session.h"

namespace hecate {
namespace {

// Session ids are 128-bit, as 32 lowercase hex characters.
constexpr size_t kSessionIdChars = 32;

// At most `max` bytes of `text` (valid UTF-8, as parsed proto3 strings are),
// cut before a character, so the echo is valid UTF-8 too.
std::string Utf8Prefix(absl::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

}  // namespace

StreamReactor::StreamReactor(ServiceContext* context, absl::StatusOr<std::string> user)
    : context_(context),
      start_(absl::Now()),
      writes_(this,
              {.max_messages = static_cast<size_t>(context->limits.max_queued_replies_per_stream),
               .max_bytes =
                   static_cast<size_t>(context->limits.max_queued_reply_bytes_per_stream)},
              context->WriteStarter()) {
  context_->metrics->active_streams->Add(1);
  std::optional<grpc::Status> status;
  {
    absl::MutexLock lock(&mu_);
    if (user.ok()) {
      user_ = *std::move(user);
      reading_ = true;
      StartRead(&incoming_);
      return;
    }
    EndStream(ToGrpcStatus(user.status()));
    status = TakeFinish();
  }
  FinishWith(this, std::move(status));
}

void StreamReactor::OnReadDone(bool ok) {
  std::optional<grpc::Status> status;
  {
    absl::MutexLock lock(&mu_);
    OnReadDoneLocked(ok);
    status = TakeFinish();
  }
  FinishWith(this, std::move(status));
}

void StreamReactor::OnReadDoneLocked(bool ok) {
  reading_ = false;
  if (!ok) {
    reads_done_ = true;  // half-close, cancellation or a broken connection
  } else if (context_->draining.load()) {
    EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                           "server is draining; retry on another replica"));
  } else {
    v1::StreamRequest request;
    absl::Status parsed = ParseMessage(incoming_, &request);
    incoming_.Clear();
    if (parsed.ok()) {
      Accept(std::move(request));
    } else {
      // Reading on would answer the requests after it while this one is
      // lost; ending OK (as gRPC's typed reads did) hid the loss.
      EndStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             absl::StrCat(parsed.message(),
                                          "; the stream ends here: requests before it are "
                                          "answered, none after it is read")));
    }
  }
  MaybeRead();
}

void StreamReactor::MaybeRead() {
  if (reading_ || reads_done_ || end_status_.has_value() || writes_.full()) return;
  reading_ = true;
  StartRead(&incoming_);
}

void StreamReactor::Accept(v1::StreamRequest request) {
  const ServiceLimits& limits = context_->limits;
  // The ids first, before anything copies them: a session id is a map key
  // below and is echoed in every reply.
  absl::Status valid = ValidateRequestId(request.request_id(), limits);
  if (valid.ok()) valid = ValidateSessionId(request.session_id());
  if (valid.ok()) valid = ValidateChunk(request.input(), limits);
  if (valid.ok()) valid = ValidateOutputSpec(request.output(), limits);
  if (!valid.ok()) {
    // Echo at most the documented sizes: a hostile client's 60 KB ids
    // queued once per rejected request grew the daemon without bound.
    v1::StreamResponse response;
    response.set_request_id(Utf8Prefix(request.request_id(), limits.max_request_id_bytes));
    response.set_session_id(Utf8Prefix(request.session_id(), kSessionIdChars));
    response.mutable_error()->set_code(static_cast<int>(valid.code()));
    response.mutable_error()->set_message(std::string(valid.message()));
    PushReply(response);
    return;
  }
  if (inflight_ >= limits.max_inflight_per_stream) {
    EndStream(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                           absl::StrCat("more than ", limits.max_inflight_per_stream,
                                        " requests in flight on one stream "
                                        "(--max_inflight_per_stream)")));
    return;
  }
  ++inflight_;
  std::string session_id = request.session_id();
  auto [it, first] = waiting_.try_emplace(session_id);
  it->second.push_back(Pending{std::move(request), absl::Now()});
  if (first) ScheduleNext(session_id);
}

void StreamReactor::ScheduleNext(const std::string& session_id) {
  auto it = waiting_.find(session_id);
  if (it == waiting_.end()) return;
  if (it->second.empty()) {
    waiting_.erase(it);  // nothing of this session runs any more
    return;
  }
  Pending next = std::move(it->second.front());
  it->second.pop_front();
  context_->busy_requests.fetch_add(1);
  auto task = std::make_shared<Pending>(std::move(next));
  if (!context_->executor->Post([this, task] { Run(std::move(*task)); })) {
    // Shutting down: this request and the session's queued ones are dropped.
    context_->busy_requests.fetch_sub(1);
    inflight_ -= 1 + static_cast<int>(it->second.size());
    waiting_.erase(it);
    EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
  }
}

void StreamReactor::Run(Pending pending) {
  auto held = std::make_shared<Pending>(std::move(pending));
  v1::StreamRequest& request = held->request;
  TokenSink sink = [this, held](const GeneratedTokenEvent& event) {
    v1::StreamResponse response;
    response.set_request_id(held->request.request_id());
    response.set_session_id(held->request.session_id());
    response.set_pulse_id(event.pulse_id);
    *response.mutable_token() = ToGeneratedToken(event);
    Reply(response);
  };
  SessionRequest session_request;
  session_request.user = user_;
  session_request.session_id = request.session_id();
  session_request.input = std::move(*request.mutable_input());
  session_request.spec = request.output();
  if (request.has_expected_pulse_id()) {
    session_request.expected_pulse_id = request.expected_pulse_id();
  }
  session_request.cancel = &cancel_;
  session_request.arrival = held->arrival;
  StartSessionRequest(*context_, std::move(session_request), std::move(sink),
                      [this, held](absl::StatusOr<ChunkOutcome> outcome) {
                        Complete(*held, std::move(outcome));
                      });
}

void StreamReactor::Complete(const Pending& pending, absl::StatusOr<ChunkOutcome> outcome) {
  const v1::StreamRequest& request = pending.request;
  v1::StreamResponse last;
  last.set_request_id(request.request_id());
  last.set_session_id(request.session_id());
  if (outcome.ok()) {
    last.set_pulse_id(outcome->pulse_id);
    *last.mutable_done() = ToChunkDone(*outcome);
  } else {
    last.mutable_error()->set_code(static_cast<int>(outcome.status().code()));
    last.mutable_error()->set_message(std::string(outcome.status().message()));
    if (std::optional<uint64_t> current = CurrentPulseId(outcome.status())) {
      last.mutable_error()->set_current_pulse_id(*current);
    }
  }
  Reply(last);
  context_->metrics->chunk_latency_seconds->Observe(
      absl::ToDoubleSeconds(absl::Now() - pending.arrival));

  const std::string session_id = request.session_id();
  std::optional<grpc::Status> status;
  {
    absl::MutexLock lock(&mu_);
    --inflight_;
    context_->busy_requests.fetch_sub(1);
    ScheduleNext(session_id);
    status = TakeFinish();
  }
  FinishWith(this, std::move(status));
}

void StreamReactor::Reply(const v1::StreamResponse& response) {
  absl::MutexLock lock(&mu_);
  PushReply(response);
}

void StreamReactor::PushReply(const v1::StreamResponse& response) {
  absl::StatusOr<grpc::ByteBuffer> bytes = SerializeMessage(response);
  if (!bytes.ok()) {
    // Only a message over 2 GiB fails, which nothing here builds; end the
    // stream rather than silently skip a reply.
    cancel_.store(true);
    EndStream(ToGrpcStatus(bytes.status()));
    return;
  }
  writes_.Push(*std::move(bytes));
}

void StreamReactor::OnWriteDone(bool ok) {
  std::optional<grpc::Status> status;
  {
    absl::MutexLock lock(&mu_);
    writes_.OnWriteDone(ok);
    if (!ok) cancel_.store(true);  // nobody is listening: stop generating
    MaybeRead();                   // reading may have paused on a full queue
    status = TakeFinish();
  }
  FinishWith(this, std::move(status));
}

void StreamReactor::OnCancel() {
  cancel_.store(true);
  std::optional<grpc::Status> status;
  {
    absl::MutexLock lock(&mu_);
    EndStream(grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled"));
    status = TakeFinish();
  }
  FinishWith(this, std::move(status));
}

void StreamReactor::EndStream(grpc::Status status) {
  if (!end_status_.has_value()) end_status_ = std::move(status);
}

std::optional<grpc::Status> StreamReactor::TakeFinish() {
  if (finished_ || reading_ || inflight_ > 0 || !writes_.idle()) return std::nullopt;
  if (!reads_done_ && !end_status_.has_value()) return std::nullopt;
  finished_ = true;
  grpc::Status status = end_status_.value_or(grpc::Status::OK);
  context_->metrics->ObserveRequest("Stream", GrpcCodeName(status.error_code()),
                                    absl::ToDoubleSeconds(absl::Now() - start_));
  return status;
}

void StreamReactor::FinishWith(StreamReactor* reactor, std::optional<grpc::Status> status) {
  // Called outside the lock: OnDone deletes the reactor and its mutex, and
  // may run as soon as Finish is called, by whichever thread took the
  // finish. A caller without a status must not touch the reactor at all.
  if (status.has_value()) reactor->Finish(*status);
}

void StreamReactor::OnDone() {
  context_->metrics->active_streams->Add(-1);
  delete this;
}

}  // namespace hecate
