#include "server/raw_message.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/impl/codegen/proto_utils.h"

namespace hecate {

absl::Status ParseMessage(const grpc::ByteBuffer& raw, google::protobuf::MessageLite* message) {
  // Deserialize consumes its buffer; the copy shares raw's slices (no bytes
  // are copied).
  grpc::ByteBuffer buffer(raw);
  message->Clear();
  const grpc::Status parsed =
      grpc::GenericDeserialize<grpc::ProtoBufferReader, google::protobuf::MessageLite>(&buffer,
                                                                                     message);
  if (!parsed.ok()) {
    message->Clear();
    return absl::InvalidArgumentError(absl::StrCat("request could not be parsed as ",
                                                   message->GetTypeName(), " (",
                                                   raw.Length(), " bytes)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<grpc::ByteBuffer> SerializeMessage(const google::protobuf::MessageLite& message) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  const grpc::Status serialized =
      grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::MessageLite>(
          message, &buffer, &own_buffer);
  if (!serialized.ok()) {
    return absl::InternalError(absl::StrCat("cannot serialise ", message.GetTypeName(), ": ",
                                            serialized.error_message()));
  }
  return buffer;
}

}  // namespace hecate
