#include "client/grpc_status.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace hecate {
namespace {

// The canonical codes run from OK (0) to UNAUTHENTICATED (16).
constexpr int kLastCanonicalCode = 16;

constexpr char kCurrentPulsePayload[] = "type.hecate.dev/hecate.v1.current_pulse_id";

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Status FromRequestError(const v1::RequestError& error) {
  if (error.code() <= 0 || error.code() > kLastCanonicalCode) {
    return absl::UnknownError(error.message());
  }
  absl::Status status(static_cast<absl::StatusCode>(error.code()), error.message());
  if (error.has_current_pulse_id()) SetCurrentPulseId(status, error.current_pulse_id());
  return status;
}

void SetCurrentPulseId(absl::Status& status, uint64_t pulse_id) {
  if (status.ok()) return;  // an OK status carries no payload
  status.SetPayload(kCurrentPulsePayload, absl::Cord(absl::StrCat(pulse_id)));
}

std::optional<uint64_t> CurrentPulseId(const absl::Status& status) {
  const auto payload = status.GetPayload(kCurrentPulsePayload);  // absl::optional
  uint64_t pulse = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &pulse)) {
    return std::nullopt;
  }
  return pulse;
}

}  // namespace hecate
