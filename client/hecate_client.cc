#include "client/hecate_client.h"

#include <random>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "client/file_io.h"
#include "client/grpc_status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace hecate {
namespace {

// The metadata key a ring-hash proxy routes on (server/routing.h).
constexpr char kSessionRoutingKey[] = "x-hecate-session";
// Initial metadata of a call whose replica adopted the session.
constexpr char kResumedPulseKey[] = "x-hecate-resumed-pulse";

// 128 random bits as 32 lowercase hex digits (std::random_device reads the
// kernel's CSPRNG on Linux), the format of server-drawn session ids.
std::string NewRoutableSessionId() {
  std::random_device device;
  std::string id;
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&id, absl::Hex(static_cast<uint32_t>(device()), absl::kZeroPad8));
  }
  return id;
}

}  // namespace
namespace {

// Generate's trailing metadata on a refused expected_pulse_id.
constexpr char kPulseIdTrailer[] = "x-hecate-pulse-id";

}  // namespace

absl::StatusOr<std::unique_ptr<HecateClient>> HecateClient::Connect(const ClientOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("target is empty");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_root_cert_path.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    HECATE_ASSIGN_OR_RETURN(std::string roots, ReadFileToString(options.tls_root_cert_path));
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = std::move(roots);
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments arguments;
  // Checkpoints travel as single messages and outgrow gRPC's 4 MiB default.
  arguments.SetMaxReceiveMessageSize(-1);
  arguments.SetMaxSendMessageSize(-1);
  return std::make_unique<HecateClient>(
      grpc::CreateCustomChannel(options.target, credentials, arguments), options);
}

struct HecateClient::ResumedPulses {
  absl::Mutex mu;
  absl::flat_hash_map<std::string, uint64_t> pulses ABSL_GUARDED_BY(mu);
};

HecateClient::HecateClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      stub_(v1::Hecate::NewStub(channel_)),
      options_(std::move(options)),
      resumed_(std::make_shared<ResumedPulses>()) {}

void HecateClient::PrepareContext(grpc::ClientContext* context, absl::Duration deadline,
                                  absl::string_view session_id) const {
  if (!options_.api_key.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.api_key));
  }
  if (!session_id.empty()) context->AddMetadata(kSessionRoutingKey, std::string(session_id));
  if (deadline != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  }
}

absl::StatusOr<v1::Session> HecateClient::CreateSession(absl::string_view session_id) {
  CreateSessionOptions options;
  options.session_id = std::string(session_id);
  return CreateSession(options);
}

absl::StatusOr<v1::Session> HecateClient::CreateSession(const CreateSessionOptions& options) {
  v1::CreateSessionRequest request;
  request.set_session_id(options.session_id.empty() ? NewRoutableSessionId()
                                                    : options.session_id);
  request.set_keep_on_expiry(options.keep_on_expiry);
  request.set_pinned(options.pinned);
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, request.session_id());
  v1::Session session;
  absl::Status status = FromGrpcStatus(stub_->CreateSession(&context, request, &session));
  if (!status.ok()) return status;
  return session;
}

absl::StatusOr<v1::Session> HecateClient::GetSession(absl::string_view session_id) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, session_id);
  v1::GetSessionRequest request;
  request.set_session_id(std::string(session_id));
  v1::Session session;
  absl::Status status = FromGrpcStatus(stub_->GetSession(&context, request, &session));
  if (!status.ok()) return status;
  std::optional<uint64_t> resumed;
  const auto& metadata = context.GetServerInitialMetadata();
  if (auto it = metadata.find(kResumedPulseKey); it != metadata.end()) {
    uint64_t pulse = 0;
    if (absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &pulse)) {
      resumed = pulse;
    }
  }
  absl::MutexLock lock(&resumed_->mu);
  if (resumed.has_value()) {
    resumed_->pulses[std::string(session_id)] = *resumed;
  } else {
    resumed_->pulses.erase(std::string(session_id));
  }
  return session;
}

std::optional<uint64_t> HecateClient::LastResumedPulse(absl::string_view session_id) const {
  absl::MutexLock lock(&resumed_->mu);
  auto it = resumed_->pulses.find(std::string(session_id));
  if (it == resumed_->pulses.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<std::vector<v1::Session>> HecateClient::ListSessions() {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline);
  v1::ListSessionsResponse response;
  absl::Status status =
      FromGrpcStatus(stub_->ListSessions(&context, v1::ListSessionsRequest(), &response));
  if (!status.ok()) return status;
  return std::vector<v1::Session>(response.sessions().begin(), response.sessions().end());
}

absl::Status HecateClient::DeleteSession(absl::string_view session_id) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, session_id);
  v1::DeleteSessionRequest request;
  request.set_session_id(std::string(session_id));
  v1::DeleteSessionResponse response;
  return FromGrpcStatus(stub_->DeleteSession(&context, request, &response));
}

absl::StatusOr<v1::ModelInfo> HecateClient::GetModelInfo() {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline);
  v1::ModelInfo info;
  absl::Status status =
      FromGrpcStatus(stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &info));
  if (!status.ok()) return status;
  return info;
}

absl::StatusOr<v1::ExportCheckpointResponse> HecateClient::ExportCheckpoint(
    absl::string_view session_id, absl::string_view name, bool omit_data) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, session_id);
  v1::ExportCheckpointRequest request;
  request.set_session_id(std::string(session_id));
  request.set_name(std::string(name));
  request.set_omit_data(omit_data);
  v1::ExportCheckpointResponse response;
  absl::Status status = FromGrpcStatus(stub_->ExportCheckpoint(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<v1::Session> HecateClient::RestoreCheckpoint(
    const v1::RestoreCheckpointRequest& request) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, request.session_id());
  v1::Session session;
  absl::Status status = FromGrpcStatus(stub_->RestoreCheckpoint(&context, request, &session));
  if (!status.ok()) return status;
  return session;
}

absl::StatusOr<v1::ListCheckpointsResponse> HecateClient::ListCheckpoints() {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline);
  v1::ListCheckpointsResponse response;
  HECATE_RETURN_IF_ERROR(FromGrpcStatus(
      stub_->ListCheckpoints(&context, v1::ListCheckpointsRequest(), &response)));
  return response;
}

absl::Status HecateClient::DeleteCheckpoint(absl::string_view name) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline);
  v1::DeleteCheckpointRequest request;
  request.set_name(std::string(name));
  v1::DeleteCheckpointResponse response;
  return FromGrpcStatus(stub_->DeleteCheckpoint(&context, request, &response));
}

absl::StatusOr<v1::ReadTranscriptResponse> HecateClient::ReadTranscript(
    absl::string_view session_id, uint64_t from_pulse, int64_t max_bytes) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, session_id);
  v1::ReadTranscriptRequest request;
  request.set_session_id(std::string(session_id));
  request.set_from_pulse(from_pulse);
  request.set_max_bytes(max_bytes);
  v1::ReadTranscriptResponse response;
  HECATE_RETURN_IF_ERROR(FromGrpcStatus(stub_->ReadTranscript(&context, request, &response)));
  return response;
}

absl::StatusOr<std::string> HecateClient::ReadWholeTranscript(absl::string_view session_id,
                                                              uint64_t from_pulse) {
  std::string out;
  for (uint64_t at = from_pulse;;) {
    HECATE_ASSIGN_OR_RETURN(v1::ReadTranscriptResponse part, ReadTranscript(session_id, at));
    out += part.data();
    at += part.data().size();
    if (part.data().empty() || at >= part.pulse_id()) return out;
  }
}

absl::StatusOr<v1::Session> HecateClient::RewindSession(absl::string_view session_id,
                                                        uint64_t to_pulse) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, session_id);
  v1::RewindSessionRequest request;
  request.set_session_id(std::string(session_id));
  request.set_to_pulse(to_pulse);
  v1::Session response;
  HECATE_RETURN_IF_ERROR(FromGrpcStatus(stub_->RewindSession(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::Session> HecateClient::UpdateSession(absl::string_view session_id,
                                                        const SessionFlagsUpdate& update) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, session_id);
  v1::UpdateSessionRequest request;
  request.set_session_id(std::string(session_id));
  if (update.pinned.has_value()) request.set_pinned(*update.pinned);
  if (update.keep_on_expiry.has_value()) request.set_keep_on_expiry(*update.keep_on_expiry);
  v1::Session response;
  HECATE_RETURN_IF_ERROR(FromGrpcStatus(stub_->UpdateSession(&context, request, &response)));
  return response;
}

absl::StatusOr<v1::Session> HecateClient::ForkSession(absl::string_view session_id,
                                                      std::optional<uint64_t> at_pulse) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, session_id);
  v1::ForkSessionRequest request;
  request.set_session_id(std::string(session_id));
  if (at_pulse.has_value()) request.set_at_pulse(*at_pulse);
  v1::Session response;
  HECATE_RETURN_IF_ERROR(FromGrpcStatus(stub_->ForkSession(&context, request, &response)));
  return response;
}

namespace {

// One Generate response: a token for `on_token`, or the final ChunkDone.
void ReadGenerateResponse(const v1::GenerateResponse& response,
                          const HecateClient::TokenCallback& on_token, bool* have_done,
                          GenerateResult* result) {
  if (response.has_token()) {
    if (on_token) on_token(response.token(), response.pulse_id());
  } else if (response.has_done()) {
    *have_done = true;
    result->done = response.done();
    result->pulse_id = response.pulse_id();
  }
}

// Reads one Generate call's responses on gRPC's callback threads.
class GenerateReader final : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  explicit GenerateReader(const HecateClient::TokenCallback& on_token) : on_token_(on_token) {}

  void Start(v1::Hecate::Stub* stub, grpc::ClientContext* context,
             const v1::GenerateRequest* request) {
    stub->async()->Generate(context, request, this);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended: OnDone follows
    ReadGenerateResponse(response_, on_token_, &have_done_, &result_);
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override {
    status_ = status;
    done_.Notify();
  }
  // Everything below is read after Wait, which OnDone's Notify orders.
  void Wait() { done_.WaitForNotification(); }
  const grpc::Status& status() const { return status_; }
  bool have_done() const { return have_done_; }
  GenerateResult& result() { return result_; }

 private:
  const HecateClient::TokenCallback& on_token_;
  v1::GenerateResponse response_;
  bool have_done_ = false;
  GenerateResult result_;
  grpc::Status status_;
  absl::Notification done_;
};

}  // namespace

absl::StatusOr<GenerateResult> HecateClient::Generate(const v1::GenerateRequest& request,
                                                      const TokenCallback& on_token) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, request.session_id());
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub_->Generate(&context, request);
  v1::GenerateResponse response;
  bool have_done = false;
  GenerateResult result;
  while (reader->Read(&response)) ReadGenerateResponse(response, on_token, &have_done, &result);
  const grpc::Status status = reader->Finish();
  return EndGenerate(context, status, have_done, std::move(result));
}

absl::StatusOr<GenerateResult> HecateClient::GenerateOnCallbackThreads(
    const v1::GenerateRequest& request, const TokenCallback& on_token) {
  grpc::ClientContext context;
  PrepareContext(&context, options_.deadline, request.session_id());
  GenerateReader reader(on_token);
  reader.Start(stub_.get(), &context, &request);
  reader.Wait();
  return EndGenerate(context, reader.status(), reader.have_done(), std::move(reader.result()));
}

absl::StatusOr<GenerateResult> HecateClient::EndGenerate(const grpc::ClientContext& context,
                                                         const grpc::Status& grpc_status,
                                                         bool have_done,
                                                         GenerateResult result) const {
  absl::Status status = FromGrpcStatus(grpc_status);
  if (!status.ok()) {
    // A refused expected_pulse_id says where the session is.
    const auto& trailers = context.GetServerTrailingMetadata();
    auto pulse = trailers.find(kPulseIdTrailer);
    uint64_t current = 0;
    if (pulse != trailers.end() &&
        absl::SimpleAtoi(absl::string_view(pulse->second.data(), pulse->second.size()),
                         &current)) {
      SetCurrentPulseId(status, current);
    }
    return status;
  }
  if (!have_done) return absl::InternalError("Generate ended without a final (done) response");
  return result;
}

absl::StatusOr<std::unique_ptr<StreamSession>> HecateClient::OpenStream(
    absl::Duration deadline, StreamSession::ResponseCallback on_response) {
  auto context = std::make_unique<grpc::ClientContext>();
  PrepareContext(context.get(), deadline);
  return std::make_unique<StreamSession>(channel_, stub_.get(), std::move(context),
                                         std::move(on_response));
}

absl::StatusOr<std::unique_ptr<StreamSession>> HecateClient::OpenStreamFor(
    absl::string_view session_id, absl::Duration deadline,
    StreamSession::ResponseCallback on_response) {
  auto context = std::make_unique<grpc::ClientContext>();
  PrepareContext(context.get(), deadline, session_id);
  return std::make_unique<StreamSession>(channel_, stub_.get(), std::move(context),
                                         std::move(on_response));
}

}  // namespace hecate
