// HecateService: the hecate.v1.Hecate callback service. Unary RPCs parse
// their request, run their work on the executor and finish from there;
// Stream and Generate are StreamReactor and GenerateReactor. Every status leaves through
// ToGrpcStatus; every RPC is timed in hecate_request_duration_seconds.
#ifndef HECATE_SERVER_HECATE_SERVICE_H_
#define HECATE_SERVER_HECATE_SERVICE_H_

#include "grpcpp/support/byte_buffer.h"
#include "proto/hecate/v1/hecate.grpc.pb.h"
#include "server/service_context.h"

namespace hecate {

// Every method is registered raw (grpc::ByteBuffer in and out) and parses its
// request itself (server/raw_message.h), so that bytes that are not the
// request type are INVALID_ARGUMENT naming it rather than gRPC's bare
// UNIMPLEMENTED, and a Stream can tell an unparsable message from a
// half-close.
using RawHecateService = v1::Hecate::WithRawCallbackMethod_CreateSession<
    v1::Hecate::WithRawCallbackMethod_GetSession<v1::Hecate::WithRawCallbackMethod_ListSessions<
        v1::Hecate::WithRawCallbackMethod_DeleteSession<v1::Hecate::WithRawCallbackMethod_Stream<
            v1::Hecate::WithRawCallbackMethod_Generate<
                v1::Hecate::WithRawCallbackMethod_ExportCheckpoint<
                    v1::Hecate::WithRawCallbackMethod_RestoreCheckpoint<
                        v1::Hecate::WithRawCallbackMethod_ListCheckpoints<
                            v1::Hecate::WithRawCallbackMethod_DeleteCheckpoint<
                                v1::Hecate::WithRawCallbackMethod_GetModelInfo<
                                    v1::Hecate::WithRawCallbackMethod_ReadTranscript<
                                        v1::Hecate::WithRawCallbackMethod_ForkSession<
                                            v1::Hecate::WithRawCallbackMethod_RewindSession<
                                                v1::Hecate::WithRawCallbackMethod_UpdateSession<
                                                    v1::Hecate::Service>>>>>>>>>>>>>>>;

class HecateService final : public RawHecateService {
 public:
  explicit HecateService(ServiceContext* context) : context_(context) {}

  // Unary methods: `request` holds the request's wire bytes, `response` gets
  // the response's.
  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* call,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* call,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* call,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteSession(grpc::CallbackServerContext* call,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ExportCheckpoint(grpc::CallbackServerContext* call,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RestoreCheckpoint(grpc::CallbackServerContext* call,
                                              const grpc::ByteBuffer* request,
                                              grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* call,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteCheckpoint(grpc::CallbackServerContext* call,
                                             const grpc::ByteBuffer* request,
                                             grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* call,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ReadTranscript(grpc::CallbackServerContext* call,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ForkSession(grpc::CallbackServerContext* call,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RewindSession(grpc::CallbackServerContext* call,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UpdateSession(grpc::CallbackServerContext* call,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
      grpc::CallbackServerContext* call) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Generate(grpc::CallbackServerContext* call,
                                                       const grpc::ByteBuffer* request) override;

 private:
  ServiceContext* const context_;
};

}  // namespace hecate

#endif  // HECATE_SERVER_HECATE_SERVICE_H_
