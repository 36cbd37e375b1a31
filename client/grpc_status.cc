#include "client/grpc_status.h"

#include <string>

namespace hecate {
namespace {

// The canonical codes run from OK (0) to UNAUTHENTICATED (16).
constexpr int kLastCanonicalCode = 16;

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::Status FromRequestError(const v1::RequestError& error) {
  if (error.code() <= 0 || error.code() > kLastCanonicalCode) {
    return absl::UnknownError(error.message());
  }
  return absl::Status(static_cast<absl::StatusCode>(error.code()), error.message());
}

}  // namespace hecate
