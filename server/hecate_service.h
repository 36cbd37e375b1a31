// HecateService: the hecate.v1.Hecate callback service. Unary RPCs run their
// work on the executor and finish from there; Stream and Generate are
// StreamReactor and GenerateReactor. Every status leaves through
// ToGrpcStatus; every RPC is timed in hecate_request_duration_seconds.
#ifndef HECATE_SERVER_HECATE_SERVICE_H_
#define HECATE_SERVER_HECATE_SERVICE_H_

#include "proto/hecate/v1/hecate.grpc.pb.h"
#include "server/service_context.h"

namespace hecate {

class HecateService final : public v1::Hecate::CallbackService {
 public:
  explicit HecateService(ServiceContext* context) : context_(context) {}

  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* call,
                                          const v1::CreateSessionRequest* request,
                                          v1::Session* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* call,
                                       const v1::GetSessionRequest* request,
                                       v1::Session* response) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* call,
                                         const v1::ListSessionsRequest* request,
                                         v1::ListSessionsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSession(grpc::CallbackServerContext* call,
                                          const v1::DeleteSessionRequest* request,
                                          v1::DeleteSessionResponse* response) override;
  grpc::ServerUnaryReactor* ExportCheckpoint(grpc::CallbackServerContext* call,
                                             const v1::ExportCheckpointRequest* request,
                                             v1::ExportCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* RestoreCheckpoint(grpc::CallbackServerContext* call,
                                              const v1::RestoreCheckpointRequest* request,
                                              v1::Session* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* call,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;
  grpc::ServerBidiReactor<v1::StreamRequest, v1::StreamResponse>* Stream(
      grpc::CallbackServerContext* call) override;
  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* call, const v1::GenerateRequest* request) override;

 private:
  ServiceContext* const context_;
};

}  // namespace hecate

#endif  // HECATE_SERVER_HECATE_SERVICE_H_
