// Conversions from wire statuses to absl::Status for client code.
//
// gRPC and absl share the canonical code space, so codes map one to one and
// the message is kept verbatim: a server's NOT_FOUND "session 3f2a... not
// found" is the caller's absl::NotFoundError with the same text.
#ifndef HECATE_CLIENT_GRPC_STATUS_H_
#define HECATE_CLIENT_GRPC_STATUS_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"
#include "proto/hecate/v1/hecate.pb.h"

namespace hecate {

absl::Status FromGrpcStatus(const grpc::Status& status);

// A per-request error carried inside a Stream response (the stream stays
// open). A code outside the canonical range becomes UNKNOWN, keeping the
// message, so a misbehaving server can never produce an OK status.
// RequestError.current_pulse_id, when set, is attached to the status
// (CurrentPulseId reads it).
absl::Status FromRequestError(const v1::RequestError& error);

// Attaches the session's current pulse id, as told by a refused
// expected_pulse_id (RequestError.current_pulse_id, or Generate's
// `x-hecate-pulse-id` trailer), to `status`.
void SetCurrentPulseId(absl::Status& status, uint64_t pulse_id);

// The pulse id a FAILED_PRECONDITION for expected_pulse_id reported, if any.
std::optional<uint64_t> CurrentPulseId(const absl::Status& status);

}  // namespace hecate

#endif  // HECATE_CLIENT_GRPC_STATUS_H_
