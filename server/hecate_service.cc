#include "server/hecate_service.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "server/generate_reactor.h"
#include "server/grpc_status_util.h"
#include "server/raw_message.h"
#include "server/routing.h"
#include "server/stream_reactor.h"

namespace hecate {
namespace {

// Authenticates, runs `work(user)` on the executor, finishes the call with
// its status and records the RPC's latency and code.
grpc::ServerUnaryReactor* RunUnaryWork(ServiceContext* context, grpc::CallbackServerContext* call,
                                   const char* method,
                                   std::function<absl::Status(const std::string& user)> work) {
  grpc::ServerUnaryReactor* reactor = call->DefaultReactor();
  const absl::Time start = absl::Now();
  auto finish = [context, reactor, method, start](const absl::Status& status) {
    const grpc::Status wire = ToGrpcStatus(status);
    context->metrics->ObserveRequest(method, GrpcCodeName(wire.error_code()),
                                     absl::ToDoubleSeconds(absl::Now() - start));
    reactor->Finish(wire);
  };
  absl::StatusOr<std::string> user = context->Authenticate(*call);
  if (!user.ok()) {
    finish(user.status());
    return reactor;
  }
  context->busy_requests.fetch_add(1);
  const bool posted = context->executor->Post([context, finish, work = std::move(work), u = *user] {
    absl::Status status = work(u);
    context->busy_requests.fetch_sub(1);
    finish(status);
  });
  if (!posted) {
    context->busy_requests.fetch_sub(1);
    finish(absl::UnavailableError("server is shutting down"));
  }
  return reactor;
}

// RunUnaryWork for a typed `work(user, request, response)`: the request is
// parsed on the executor (after authentication), the response serialised
// into `raw_response` when the work succeeds.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* RunUnary(
    ServiceContext* context, grpc::CallbackServerContext* call, const char* method,
    const grpc::ByteBuffer* raw_request, grpc::ByteBuffer* raw_response,
    std::function<absl::Status(const std::string& user, const Request& request,
                               Response* response)>
        work) {
  return RunUnaryWork(context, call, method,
                      [raw_request, raw_response, work = std::move(work)](const std::string& user) {
                        Request request;
                        if (absl::Status s = ParseMessage(*raw_request, &request); !s.ok()) {
                          return s;
                        }
                        Response response;
                        HECATE_RETURN_IF_ERROR(work(user, request, &response));
                        HECATE_ASSIGN_OR_RETURN(grpc::ByteBuffer bytes, SerializeMessage(response));
                        raw_response->Swap(&bytes);
                        return absl::OkStatus();
                      });
}

}  // namespace

grpc::ServerUnaryReactor* HecateService::CreateSession(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::CreateSessionRequest, v1::Session>(
      context_, call, "CreateSession", raw_request, raw_response,
      [this](const std::string& user,
             const v1::CreateSessionRequest& request,
             v1::Session* response) -> absl::Status {
        CreateOptions create;
        create.keep_on_expiry = request.keep_on_expiry();
        create.pinned = request.pinned();
        if (context_->shared == nullptr) {
          HECATE_ASSIGN_OR_RETURN(SessionInfo info,
                                  context_->store->Create(user, request.session_id(), create));
          *response = ToProto(info);
          return absl::OkStatus();
        }
        // Replicas: the id is taken across all of them before the session exists.
        std::string id = request.session_id();
        if (id.empty()) {
          HECATE_ASSIGN_OR_RETURN(id, NewSessionId());
        }
        HECATE_RETURN_IF_ERROR(context_->shared->Reserve(id, user));
        absl::StatusOr<SessionInfo> info = context_->store->Create(user, id, create);
        if (info.ok()) {
          if (absl::Status tracked = context_->shared->Track(id, user); !tracked.ok()) {
            info = tracked;
          }
        }
        if (!info.ok()) {
          context_->shared->Forget(id, user);
          return info.status();
        }
        *response = ToProto(*info);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::GetSession(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::GetSessionRequest, v1::Session>(
      context_, call, "GetSession", raw_request, raw_response,
      [this, call](const std::string& user,
             const v1::GetSessionRequest& request,
             v1::Session* response) -> absl::Status {
        HECATE_RETURN_IF_ERROR(EnsureSessionHere(*context_, call, user, request.session_id()));
        HECATE_ASSIGN_OR_RETURN(SessionInfo info, context_->store->Get(request.session_id(), user));
        *response = ToProto(info);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::ListSessions(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::ListSessionsRequest, v1::ListSessionsResponse>(
      context_, call, "ListSessions", raw_request, raw_response,
      [this](const std::string& user,
             const v1::ListSessionsRequest&,
             v1::ListSessionsResponse* response) -> absl::Status {
        for (const SessionInfo& info : context_->store->List(user)) {
          *response->add_sessions() = ToProto(info);
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::DeleteSession(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::DeleteSessionRequest, v1::DeleteSessionResponse>(
      context_, call, "DeleteSession", raw_request, raw_response,
      [this, call](const std::string& user,
             const v1::DeleteSessionRequest& request,
             v1::DeleteSessionResponse*) -> absl::Status {
        HECATE_RETURN_IF_ERROR(EnsureSessionHere(*context_, call, user, request.session_id()));
        HECATE_RETURN_IF_ERROR(RetryAfterPublish(*context_, request.session_id(), [&] {
          return context_->store->Delete(request.session_id(), user);
        }));
        if (context_->shared != nullptr) context_->shared->Forget(request.session_id(), user);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::ExportCheckpoint(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::ExportCheckpointRequest, v1::ExportCheckpointResponse>(
      context_, call, "ExportCheckpoint", raw_request, raw_response,
      [this, call](const std::string& user,
             const v1::ExportCheckpointRequest& request,
             v1::ExportCheckpointResponse* response) -> absl::Status {
        HECATE_RETURN_IF_ERROR(EnsureSessionHere(*context_, call, user, request.session_id()));
        if (request.omit_data() && request.name().empty()) {
          return absl::InvalidArgumentError("omit_data needs a name to store the checkpoint under");
        }
        HECATE_ASSIGN_OR_RETURN(
            ExportedCheckpoint exported, RetryAfterPublish(*context_, request.session_id(), [&] {
              return context_->store->Export(request.session_id(), user, request.name());
            }));
        response->set_size_bytes(static_cast<int64_t>(exported.bytes.size()));
        response->set_pulse_id(exported.pulse_id);
        response->set_model_fingerprint(exported.model_fingerprint);
        response->set_name(exported.name);
        if (!request.omit_data()) response->set_checkpoint_data(std::move(exported.bytes));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::RestoreCheckpoint(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::RestoreCheckpointRequest, v1::Session>(
      context_, call, "RestoreCheckpoint", raw_request, raw_response,
      [this, call](const std::string& user,
             const v1::RestoreCheckpointRequest& request,
             v1::Session* response) -> absl::Status {
        if (!request.session_id().empty()) {
          HECATE_RETURN_IF_ERROR(EnsureSessionHere(*context_, call, user, request.session_id()));
        }
        std::optional<uint64_t> expected;
        if (request.has_expected_pulse_id()) expected = request.expected_pulse_id();
        absl::StatusOr<SessionInfo> info;
        switch (request.source_case()) {
          case v1::RestoreCheckpointRequest::kCheckpointData:
            info = context_->store->RestoreFromBytes(user, request.checkpoint_data(),
                                                     expected, request.session_id(),
                                                     request.expected_digest());
            break;
          case v1::RestoreCheckpointRequest::kCheckpointName:
            info = context_->store->RestoreFromName(user, request.checkpoint_name(),
                                                    expected, request.session_id(),
                                                    request.expected_digest());
            break;
          default:
            return absl::InvalidArgumentError("set checkpoint_data or checkpoint_name");
        }
        if (!info.ok()) return info.status();
        if (context_->shared != nullptr && request.session_id().empty()) {
          // A new session: shared from now on (written at the next tick).
          if (absl::Status s = context_->shared->Track(info->id, user); !s.ok()) {
            LOG(WARNING) << "restored session " << info->id << " not shared: " << s;
          }
        }
        *response = ToProto(*info);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::ListCheckpoints(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::ListCheckpointsRequest, v1::ListCheckpointsResponse>(
      context_, call, "ListCheckpoints", raw_request, raw_response,
      [this](const std::string& user,
             const v1::ListCheckpointsRequest&,
             v1::ListCheckpointsResponse* response) -> absl::Status {
        using google::protobuf::util::TimeUtil;
        HECATE_ASSIGN_OR_RETURN(std::vector<NamedCheckpointInfo> stored,
                                context_->store->ListCheckpoints(user));
        int64_t used = 0;
        for (const NamedCheckpointInfo& info : stored) {
          v1::CheckpointInfo* out = response->add_checkpoints();
          out->set_name(info.name);
          out->set_size_bytes(static_cast<int64_t>(info.size_bytes));
          *out->mutable_create_time() =
              TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(info.created));
          if (info.pulse_id.has_value()) out->set_pulse_id(*info.pulse_id);
          used += static_cast<int64_t>(info.size_bytes);
        }
        response->set_used_bytes(used);
        response->set_quota_bytes(
            static_cast<int64_t>(context_->store->checkpoint_quota_bytes_per_user()));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::DeleteCheckpoint(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::DeleteCheckpointRequest, v1::DeleteCheckpointResponse>(
      context_, call, "DeleteCheckpoint", raw_request, raw_response,
      [this](const std::string& user,
             const v1::DeleteCheckpointRequest& request,
             v1::DeleteCheckpointResponse*) -> absl::Status {
        return context_->store->DeleteCheckpoint(user, request.name());
      });
}

grpc::ServerUnaryReactor* HecateService::GetModelInfo(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::GetModelInfoRequest, v1::ModelInfo>(
      context_, call, "GetModelInfo", raw_request, raw_response,
      [this](const std::string&,
             const v1::GetModelInfoRequest&,
             v1::ModelInfo* response) -> absl::Status {
        *response = context_->model_info;
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::ReadTranscript(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::ReadTranscriptRequest, v1::ReadTranscriptResponse>(
      context_, call, "ReadTranscript", raw_request, raw_response,
      [this, call](const std::string& user, const v1::ReadTranscriptRequest& request,
                   v1::ReadTranscriptResponse* response) -> absl::Status {
        HECATE_RETURN_IF_ERROR(EnsureSessionHere(*context_, call, user, request.session_id()));
        if (request.max_bytes() < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("max_bytes must be >= 0, got ", request.max_bytes()));
        }
        // One reply holds at most a chunk's worth: the message limit allows it.
        const size_t limit = static_cast<size_t>(context_->limits.max_chunk_bytes);
        const size_t max_bytes =
            request.max_bytes() == 0
                ? limit
                : std::min(limit, static_cast<size_t>(request.max_bytes()));
        HECATE_ASSIGN_OR_RETURN(TranscriptBytes read,
                                context_->store->ReadTranscript(request.session_id(), user,
                                                                request.from_pulse(), max_bytes));
        response->set_data(std::move(read.data));
        response->set_from_pulse(read.from_pulse);
        response->set_pulse_id(read.pulse_id);
        response->set_transcript_start_pulse(read.start_pulse);
        response->set_transcript_digest(read.digest);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::ForkSession(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::ForkSessionRequest, v1::Session>(
      context_, call, "ForkSession", raw_request, raw_response,
      [this, call](const std::string& user, const v1::ForkSessionRequest& request,
                   v1::Session* response) -> absl::Status {
        HECATE_RETURN_IF_ERROR(EnsureSessionHere(*context_, call, user, request.session_id()));
        std::optional<uint64_t> at_pulse;
        if (request.has_at_pulse()) at_pulse = request.at_pulse();
        HECATE_ASSIGN_OR_RETURN(SessionInfo info,
                                context_->store->Fork(request.session_id(), user, at_pulse));
        if (context_->shared != nullptr) {
          // The fork is a new session: shared from now on, as a restored one.
          if (absl::Status s = context_->shared->Track(info.id, user); !s.ok()) {
            LOG(WARNING) << "forked session " << info.id << " not shared: " << s;
          }
        }
        *response = ToProto(info);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::RewindSession(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::RewindSessionRequest, v1::Session>(
      context_, call, "RewindSession", raw_request, raw_response,
      [this, call](const std::string& user, const v1::RewindSessionRequest& request,
                   v1::Session* response) -> absl::Status {
        HECATE_RETURN_IF_ERROR(EnsureSessionHere(*context_, call, user, request.session_id()));
        HECATE_ASSIGN_OR_RETURN(
            SessionInfo info,
            context_->store->Rewind(request.session_id(), user, request.to_pulse()));
        *response = ToProto(info);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* HecateService::UpdateSession(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  return RunUnary<v1::UpdateSessionRequest, v1::Session>(
      context_, call, "UpdateSession", raw_request, raw_response,
      [this, call](const std::string& user, const v1::UpdateSessionRequest& request,
                   v1::Session* response) -> absl::Status {
        HECATE_RETURN_IF_ERROR(EnsureSessionHere(*context_, call, user, request.session_id()));
        SessionUpdate update;
        if (request.has_pinned()) update.pinned = request.pinned();
        if (request.has_keep_on_expiry()) update.keep_on_expiry = request.keep_on_expiry();
        // Replicas: the flags reach the shared store at the next tick.
        HECATE_ASSIGN_OR_RETURN(
            SessionInfo info, RetryAfterPublish(*context_, request.session_id(), [&] {
              return context_->store->Update(request.session_id(), user, update);
            }));
        *response = ToProto(info);
        return absl::OkStatus();
      });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* HecateService::Stream(
    grpc::CallbackServerContext* call) {
  return new StreamReactor(context_, context_->Authenticate(*call));
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* HecateService::Generate(
    grpc::CallbackServerContext* call, const grpc::ByteBuffer* request) {
  return new GenerateReactor(context_, call, request);
}

}  // namespace hecate
