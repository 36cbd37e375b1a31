#include "client/stream_session.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/grpc_status.h"

namespace hecate {

StreamSession::StreamSession(std::shared_ptr<grpc::Channel> channel, v1::Hecate::Stub* stub,
                             std::unique_ptr<grpc::ClientContext> context,
                             ResponseCallback on_response)
    : channel_(std::move(channel)),
      context_(std::move(context)),
      call_(stub->Stream(context_.get())),
      on_response_(std::move(on_response)) {
  if (on_response_) reader_thread_ = std::thread([this] { ReaderThreadLoop(); });
}

StreamSession::~StreamSession() {
  bool finished;
  {
    absl::MutexLock lock(&mu_);
    finished = finished_;
  }
  if (!finished) {
    Cancel();
    Finish().IgnoreError();
  }
}

std::string StreamSession::NextRequestId() {
  return absl::StrCat("r", next_request_number_.fetch_add(1, std::memory_order_relaxed));
}

absl::Status StreamSession::Send(const v1::StreamRequest& request) {
  {
    absl::MutexLock lock(&write_mu_);
    if (writes_done_) {
      return absl::FailedPreconditionError("the stream is half-closed (WritesDone was called)");
    }
    if (call_->Write(request)) return absl::OkStatus();
  }
  // A failed write means the call is over; its status arrives through Read
  // and Finish. Wait for it without dropping anyone's queued responses.
  absl::MutexLock lock(&mu_);
  while (!ended_) {
    if (reading_ || on_response_) {
      changed_.Wait(&mu_);
    } else {
      ReadOneLocked();
    }
  }
  if (!end_status_.ok()) return end_status_;
  return absl::FailedPreconditionError("the stream has ended");
}

void StreamSession::ReadOneLocked() {
  reading_ = true;
  v1::StreamResponse response;
  mu_.Unlock();
  const bool ok = call_->Read(&response);
  mu_.Lock();
  reading_ = false;
  if (ok) {
    pending_.push_back(std::move(response));
  } else {
    FinishCallLocked();
  }
  changed_.SignalAll();
}

void StreamSession::FinishCallLocked() {
  // Read returned false: the server has sent its status, so Finish returns
  // without waiting on anything but that status.
  end_status_ = FromGrpcStatus(call_->Finish());
  ended_ = true;
}

void StreamSession::ReaderThreadLoop() {
  v1::StreamResponse response;
  while (call_->Read(&response)) {
    on_response_(response);
  }
  absl::MutexLock lock(&mu_);
  FinishCallLocked();
  changed_.SignalAll();
}

absl::StatusOr<v1::StreamResponse> StreamSession::TakeResponse(absl::string_view request_id,
                                                               bool any) {
  if (on_response_) {
    return absl::FailedPreconditionError(
        "this stream delivers responses to its callback; it cannot be read directly");
  }
  absl::MutexLock lock(&mu_);
  while (true) {
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (any || it->request_id() == request_id) {
        v1::StreamResponse response = std::move(*it);
        pending_.erase(it);
        return response;
      }
    }
    if (ended_) {
      if (!end_status_.ok()) return end_status_;
      if (any) return absl::OutOfRangeError("the stream has ended");
      return absl::OutOfRangeError(
          absl::StrCat("the stream ended before a response to request '", request_id, "'"));
    }
    if (reading_) {
      changed_.Wait(&mu_);
    } else {
      ReadOneLocked();
    }
  }
}

absl::StatusOr<v1::StreamResponse> StreamSession::ReadFor(absl::string_view request_id) {
  return TakeResponse(request_id, /*any=*/false);
}

absl::StatusOr<v1::StreamResponse> StreamSession::ReadNext() {
  return TakeResponse("", /*any=*/true);
}

absl::StatusOr<v1::StreamResponse> StreamSession::Call(const v1::StreamRequest& request,
                                                       const ResponseCallback& on_token) {
  if (on_response_) {
    return absl::FailedPreconditionError(
        "this stream delivers responses to its callback; use Send instead of Call");
  }
  v1::StreamRequest with_id = request;
  if (with_id.request_id().empty()) with_id.set_request_id(NextRequestId());
  absl::Status sent = Send(with_id);
  if (!sent.ok()) return sent;
  while (true) {
    HECATE_ASSIGN_OR_RETURN(v1::StreamResponse response, ReadFor(with_id.request_id()));
    switch (response.event_case()) {
      case v1::StreamResponse::kDone:
        return response;
      case v1::StreamResponse::kError:
        return FromRequestError(response.error());
      case v1::StreamResponse::kToken:
        if (on_token) on_token(response);
        break;
      case v1::StreamResponse::EVENT_NOT_SET:
        // A response with no event carries nothing the caller asked for;
        // keep reading for the request's last response.
        break;
    }
  }
}

absl::Status StreamSession::WritesDone() {
  absl::MutexLock lock(&write_mu_);
  if (writes_done_) return absl::OkStatus();
  writes_done_ = true;
  if (!call_->WritesDone()) {
    return absl::FailedPreconditionError("the stream has ended; WritesDone was not sent");
  }
  return absl::OkStatus();
}

void StreamSession::Cancel() { context_->TryCancel(); }

absl::Status StreamSession::Finish() {
  WritesDone().IgnoreError();  // an ended stream reports its status below
  if (reader_thread_.joinable()) reader_thread_.join();
  absl::MutexLock lock(&mu_);
  while (!ended_) {
    pending_.clear();
    if (reading_) {
      changed_.Wait(&mu_);
    } else {
      ReadOneLocked();
    }
  }
  pending_.clear();
  finished_ = true;
  return end_status_;
}

}  // namespace hecate
