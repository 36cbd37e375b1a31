// HecateClient: a synchronous C++ client for hecated (proto/hecate/v1).
//
//   ClientOptions options;                  // 127.0.0.1:50051, insecure
//   options.api_key = "k3y";                // sent as `authorization: Bearer k3y`
//   absl::StatusOr<std::unique_ptr<HecateClient>> client = HecateClient::Connect(options);
//   absl::StatusOr<v1::Session> session = (*client)->CreateSession();
//   absl::StatusOr<std::unique_ptr<StreamSession>> stream = (*client)->OpenStream();
//
// Every method returns the server's status as an absl::Status with the same
// code and message (client/grpc_status.h). Unary calls and Generate carry
// `options.deadline`; a Stream has no deadline unless OpenStream is given one,
// since it is meant to stay open. The client is thread-safe: one HecateClient
// (one channel) can serve many threads and many concurrent streams.
#ifndef HECATE_CLIENT_HECATE_CLIENT_H_
#define HECATE_CLIENT_HECATE_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/stream_session.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "proto/hecate/v1/hecate.grpc.pb.h"

namespace hecate {

struct ClientOptions {
  // host:port of hecated's gRPC port.
  std::string target = "127.0.0.1:50051";
  // Sent as `authorization: Bearer <api_key>` on every call; empty sends none.
  std::string api_key;
  // PEM file of root certificates: use TLS and verify the server with them.
  // Empty: plaintext (only sensible on loopback or inside a trusted network).
  std::string tls_root_cert_path;
  // Deadline of each unary call and of each Generate call;
  // absl::InfiniteDuration() for none.
  absl::Duration deadline = absl::Seconds(30);
};

// The end of a Generate call: the final response's ChunkDone and the pulse id
// the session reached after the prompt and every generated token.
struct GenerateResult {
  v1::ChunkDone done;
  uint64_t pulse_id = 0;
};

class HecateClient {
 public:
  // Called for each generated token with the pulse id after it.
  using TokenCallback = std::function<void(const v1::GeneratedToken& token, uint64_t pulse_id)>;

  // Builds the channel (TLS when a root file is given; NOT_FOUND etc. when it
  // cannot be read). Does not contact the server: the first call does.
  static absl::StatusOr<std::unique_ptr<HecateClient>> Connect(const ClientOptions& options);

  // Uses an existing channel; `options.target` and the TLS path are ignored.
  HecateClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  absl::StatusOr<v1::Session> CreateSession();
  absl::StatusOr<v1::Session> GetSession(absl::string_view session_id);
  // The caller's sessions, oldest first.
  absl::StatusOr<std::vector<v1::Session>> ListSessions();
  absl::Status DeleteSession(absl::string_view session_id);
  absl::StatusOr<v1::ModelInfo> GetModelInfo();

  // `name` non-empty also stores the checkpoint server-side; `omit_data`
  // (only with a name) leaves checkpoint_data empty.
  absl::StatusOr<v1::ExportCheckpointResponse> ExportCheckpoint(absl::string_view session_id,
                                                                absl::string_view name = "",
                                                                bool omit_data = false);
  absl::StatusOr<v1::Session> RestoreCheckpoint(const v1::RestoreCheckpointRequest& request);
  // The checkpoints the caller stored by name (by name), with its usage and
  // quota.
  absl::StatusOr<v1::ListCheckpointsResponse> ListCheckpoints();
  // Deletes the caller's checkpoint `name` (NOT_FOUND when there is none).
  absl::Status DeleteCheckpoint(absl::string_view name);

  // Feeds `request.prompt` and samples; `on_token` (may be null) sees each
  // token as it arrives. A call whose stream ends without a final ChunkDone
  // is INTERNAL.
  absl::StatusOr<GenerateResult> Generate(const v1::GenerateRequest& request,
                                          const TokenCallback& on_token);

  // Opens one bidirectional Stream. With `on_response`, a reader thread hands
  // every response to it (StreamSession's Read methods are then refused);
  // without, responses are read with StreamSession::ReadFor/ReadNext/Call.
  absl::StatusOr<std::unique_ptr<StreamSession>> OpenStream(
      absl::Duration deadline = absl::InfiniteDuration(),
      StreamSession::ResponseCallback on_response = nullptr);

  const ClientOptions& options() const { return options_; }

 private:
  // Fills in the authorization metadata and the deadline.
  void PrepareContext(grpc::ClientContext* context, absl::Duration deadline) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Hecate::Stub> stub_;
  ClientOptions options_;
};

}  // namespace hecate

#endif  // HECATE_CLIENT_HECATE_CLIENT_H_
