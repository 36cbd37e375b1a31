// The one place where an internal absl::Status becomes a wire grpc::Status.
// Codes map one to one (absl and gRPC share the canonical code space); the
// message is kept.
#ifndef HECATE_SERVER_GRPC_STATUS_UTIL_H_
#define HECATE_SERVER_GRPC_STATUS_UTIL_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace hecate {

grpc::Status ToGrpcStatus(const absl::Status& status);

// The canonical name of a code ("NOT_FOUND"), for metrics labels and logs.
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace hecate

#endif  // HECATE_SERVER_GRPC_STATUS_UTIL_H_
