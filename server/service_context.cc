#include "server/service_context.h"

#include "google/protobuf/util/time_util.h"

namespace hecate {

absl::StatusOr<std::string> ServiceContext::Authenticate(
    const grpc::CallbackServerContext& call) const {
  return Authenticate(call.client_metadata());
}

absl::StatusOr<std::string> ServiceContext::Authenticate(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const {
  if (draining.load()) {
    return absl::UnavailableError("server is draining; retry on another replica");
  }
  // Two credentials are ambiguous: which user is calling? Never pick one.
  if (metadata.count("authorization") > 1) {
    return absl::UnauthenticatedError(
        "more than one `authorization` metadata value; send exactly one `Bearer <api key>`");
  }
  auto it = metadata.find("authorization");
  absl::string_view value;
  if (it != metadata.end()) value = absl::string_view(it->second.data(), it->second.size());
  return keys->Authenticate(value);
}

v1::Session ToProto(const SessionInfo& info) {
  using google::protobuf::util::TimeUtil;
  v1::Session s;
  s.set_id(info.id);
  s.set_pulse_id(info.pulse_id);
  s.set_model_fingerprint(info.model_fingerprint);
  s.set_state_bytes(static_cast<int64_t>(info.state_bytes));
  *s.mutable_create_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(info.created));
  *s.mutable_last_use_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(info.last_used));
  switch (info.residency) {
    case Residency::kDevice: s.set_residency(v1::RESIDENCY_DEVICE); break;
    case Residency::kHost: s.set_residency(v1::RESIDENCY_HOST); break;
    case Residency::kDisk: s.set_residency(v1::RESIDENCY_DISK); break;
  }
  s.set_tokens_in(info.tokens_in);
  s.set_tokens_out(info.tokens_out);
  s.set_transcript_digest(info.transcript_digest);
  s.set_transcript_start_pulse(info.transcript_start_pulse);
  s.set_keep_on_expiry(info.keep_on_expiry);
  s.set_pinned(info.pinned);
  return s;
}

}  // namespace hecate
