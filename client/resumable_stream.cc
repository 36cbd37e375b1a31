// HecateClient::StreamResumable: exactly-once delivery of a text with
// StreamRequest.expected_pulse_id (hecate_client.h says what it promises).
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "client/grpc_status.h"
#include "client/hecate_client.h"
#include "client/resume_plan.h"

namespace hecate {
namespace {

// Failures after which asking the session again and resending is safe and
// may succeed. (A refused expected_pulse_id is handled before these.)
bool IsTransient(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kOutOfRange:  // the stream ended before the reply
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<ResumeResult> HecateClient::StreamResumable(absl::string_view session_id,
                                                           absl::string_view bytes,
                                                           uint64_t start_pulse,
                                                           const ResumeOptions& options) {
  if (options.chunk_bytes < 1 || options.max_attempts < 1) {
    return absl::InvalidArgumentError("chunk_bytes and max_attempts must be >= 1");
  }
  ResumeResult result;
  // Where the session is; unknown after a transient failure.
  bool known = options.assumed_pulse.has_value();
  uint64_t pulse = options.assumed_pulse.value_or(0);
  absl::Status last = absl::UnavailableError("no attempt was made");
  for (int attempt = 0; attempt < options.max_attempts; ++attempt) {
    if (!known) {
      absl::StatusOr<v1::Session> session = GetSession(session_id);
      if (!session.ok()) {
        if (!IsTransient(session.status())) return session.status();
        last = session.status();
        absl::SleepFor(options.retry_delay);
        continue;
      }
      pulse = session->pulse_id();
      known = true;
    }
    HECATE_ASSIGN_OR_RETURN(size_t offset, ResumeOffset(start_pulse, bytes.size(), pulse));
    if (offset == bytes.size()) {
      result.pulse_id = pulse;
      return result;
    }
    HECATE_ASSIGN_OR_RETURN(std::unique_ptr<StreamSession> stream, OpenStreamFor(session_id));
    absl::Status status;
    while (offset < bytes.size()) {
      const size_t size = std::min(options.chunk_bytes, bytes.size() - offset);
      v1::StreamRequest request;
      request.set_request_id(stream->NextRequestId());
      request.set_session_id(std::string(session_id));
      request.set_input(std::string(bytes.substr(offset, size)));
      request.set_expected_pulse_id(start_pulse + offset);
      absl::StatusOr<v1::StreamResponse> done = stream->Call(request);
      if (!done.ok()) {
        status = done.status();
        break;
      }
      offset += size;
      result.bytes_sent += size;
      pulse = done->pulse_id();
    }
    if (status.ok()) {
      // Every chunk was acknowledged; a failing end changes nothing applied.
      (void)stream->Finish();
      result.pulse_id = start_pulse + bytes.size();
      return result;
    }
    stream->Cancel();
    (void)stream->Finish();
    last = status;
    if (std::optional<uint64_t> current = CurrentPulseId(status)) {
      // Refused before anything was applied: the session said where it is.
      ++result.refusals;
      pulse = *current;
      continue;
    }
    if (!IsTransient(status)) return status;
    known = false;  // the request may or may not have been applied
    absl::SleepFor(options.retry_delay);
  }
  return last;
}

}  // namespace hecate
