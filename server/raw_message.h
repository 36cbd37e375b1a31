// Parsing and serialising hecate.v1 messages at the wire edge.
//
// HecateService registers every method raw (grpc::ByteBuffer in and out) and
// parses requests itself, because gRPC's typed callback handlers cannot say
// that a request did not parse: a unary call is answered UNIMPLEMENTED with
// an empty message, and a stream read fails exactly like a half-close, so a
// Stream with one unparsable message ended OK and silently dropped every
// request after it. ParseMessage turns that into INVALID_ARGUMENT naming the
// expected type.
#ifndef HECATE_SERVER_RAW_MESSAGE_H_
#define HECATE_SERVER_RAW_MESSAGE_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"

namespace hecate {

// Parses `raw` into `message` (cleared first). INVALID_ARGUMENT "request
// could not be parsed as hecate.v1.<Type>" when the bytes are not one.
absl::Status ParseMessage(const grpc::ByteBuffer& raw, google::protobuf::MessageLite* message);

// The wire bytes of `message`.
absl::StatusOr<grpc::ByteBuffer> SerializeMessage(const google::protobuf::MessageLite& message);

}  // namespace hecate

#endif  // HECATE_SERVER_RAW_MESSAGE_H_
