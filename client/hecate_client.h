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
#include <optional>
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

// StreamResumable: how to send, and how long to keep trying.
// Choices for a new session (CreateSessionRequest says what each does).
struct CreateSessionOptions {
  // Proposed id; empty: 128 fresh random bits (see CreateSession).
  std::string session_id;
  // On expiry (the server's --session_ttl), stored as checkpoint
  // "expired-<id>" before it is deleted.
  bool keep_on_expiry = false;
  // Never moved below host memory by eviction (within the server's
  // --max_pinned_sessions_per_user).
  bool pinned = false;
};

// Flags to change on a live session (UpdateSession); nullopt: unchanged.
struct SessionFlagsUpdate {
  std::optional<bool> pinned;
  std::optional<bool> keep_on_expiry;
};

struct ResumeOptions {
  // Bytes per StreamRequest (at most the server's --max_chunk_bytes).
  size_t chunk_bytes = 65536;
  // The pulse id the caller believes the session is at. Unset: asked with
  // GetSession first. A wrong belief costs one refused request, whose
  // FAILED_PRECONDITION tells the real pulse id.
  std::optional<uint64_t> assumed_pulse;
  // Streams opened (each resumes where the last one stopped) before giving up.
  int max_attempts = 8;
  // Pause before asking again after a transient failure (ABORTED: another
  // writer holds the session, e.g. the lost request still running;
  // UNAVAILABLE, CANCELLED, DEADLINE_EXCEEDED, a broken stream).
  absl::Duration retry_delay = absl::Milliseconds(100);
};

struct ResumeResult {
  // The session's pulse id at the end: start_pulse + the text's size.
  uint64_t pulse_id = 0;
  // Bytes this call applied (the others were applied before it).
  size_t bytes_sent = 0;
  // Requests refused because the session was not where they expected.
  int refusals = 0;
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

  // With the id proposed (32 lowercase hex digits); empty: 128 fresh random
  // bits from std::random_device, so a proxy can route the creation.
  absl::StatusOr<v1::Session> CreateSession(absl::string_view session_id = "");
  absl::StatusOr<v1::Session> CreateSession(const CreateSessionOptions& options);
  absl::StatusOr<v1::Session> GetSession(absl::string_view session_id);
  // The pulse id a replica resumed `session_id` at, when this client's last
  // successful GetSession of it made that replica adopt it from the store
  // replicas share (response metadata x-hecate-resumed-pulse); nullopt when
  // that call adopted nothing. Behind a proxy, after UNAVAILABLE, retry
  // GetSession, then resend what follows this pulse id.
  std::optional<uint64_t> LastResumedPulse(absl::string_view session_id) const;
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

  // Up to `max_bytes` (0: the server's limit) bytes of the session's
  // transcript from pulse `from_pulse` on, with the session's pulse id and
  // digest when read. OUT_OF_RANGE outside the bytes the server keeps.
  absl::StatusOr<v1::ReadTranscriptResponse> ReadTranscript(absl::string_view session_id,
                                                            uint64_t from_pulse,
                                                            int64_t max_bytes = 0);
  // Every transcript byte the server holds from `from_pulse` to the pulse id
  // it reports at the last call (ReadTranscript until then).
  absl::StatusOr<std::string> ReadWholeTranscript(absl::string_view session_id,
                                                  uint64_t from_pulse = 0);
  // A new session with a copy of `session_id` (state, transcript, digest),
  // as it is now or, with `at_pulse`, as it was then.
  absl::StatusOr<v1::Session> ForkSession(absl::string_view session_id,
                                          std::optional<uint64_t> at_pulse = std::nullopt);
  // Puts the session back to pulse `to_pulse` (OUT_OF_RANGE before the
  // oldest pulse reachable, which the message names).
  absl::StatusOr<v1::Session> RewindSession(absl::string_view session_id, uint64_t to_pulse);
  // Changes the session's flags: those set in `update` (pinned,
  // keep_on_expiry), the others stay. RESOURCE_EXHAUSTED when pinning past
  // the server's --max_pinned_sessions_per_user.
  absl::StatusOr<v1::Session> UpdateSession(absl::string_view session_id,
                                            const SessionFlagsUpdate& update);

  // Feeds `request.prompt` and samples; `on_token` (may be null) sees each
  // token as it arrives. A call whose stream ends without a final ChunkDone
  // is INTERNAL. A refused expected_pulse_id is FAILED_PRECONDITION with the
  // session's pulse id attached (CurrentPulseId in client/grpc_status.h).
  absl::StatusOr<GenerateResult> Generate(const v1::GenerateRequest& request,
                                          const TokenCallback& on_token);
  // The same call on gRPC's callback API: `on_token` runs on one of gRPC's
  // threads while the caller waits, so it must not block or call this
  // client. For many concurrent calls (hecatectl bench): each waiting thread
  // sleeps until its call ends instead of polling the connection for every
  // token, which on a 2-core machine cost the client 5% of the CPU it
  // shared with the server it measured.
  absl::StatusOr<GenerateResult> GenerateOnCallbackThreads(const v1::GenerateRequest& request,
                                                           const TokenCallback& on_token);

  // Exactly-once delivery of a text: the session is meant to consume
  // `bytes` starting at pulse id `start_pulse`, and some of it may already
  // be applied (a reply was lost: a broken connection, a crashed client).
  // Learns where the session is (GetSession, or options.assumed_pulse) and
  // sends exactly the bytes not yet applied, each request with
  // expected_pulse_id, so no byte is ever applied twice: a refusal tells the
  // real pulse id and sending resumes from there. Ends with the session at
  // start_pulse + bytes.size(). FAILED_PRECONDITION when the session is
  // outside [start_pulse, start_pulse + size] (client/resume_plan.h); other
  // non-transient errors are returned as they come; after max_attempts
  // transient failures, the last one. It assumes whatever moved the session
  // inside that range was this text.
  absl::StatusOr<ResumeResult> StreamResumable(absl::string_view session_id,
                                               absl::string_view bytes, uint64_t start_pulse,
                                               const ResumeOptions& options = {});

  // Opens one bidirectional Stream. With `on_response`, a reader thread hands
  // every response to it (StreamSession's Read methods are then refused);
  // without, responses are read with StreamSession::ReadFor/ReadNext/Call.
  absl::StatusOr<std::unique_ptr<StreamSession>> OpenStream(
      absl::Duration deadline = absl::InfiniteDuration(),
      StreamSession::ResponseCallback on_response = nullptr);
  // OpenStream for the requests of one session, routed to its replica
  // (x-hecate-session); use it whenever a stream serves one session.
  absl::StatusOr<std::unique_ptr<StreamSession>> OpenStreamFor(
      absl::string_view session_id, absl::Duration deadline = absl::InfiniteDuration(),
      StreamSession::ResponseCallback on_response = nullptr);

  const ClientOptions& options() const { return options_; }

 private:
  // Fills in the authorization metadata, the deadline and, for a call
  // about a session, its routing key (x-hecate-session: replicas behind a
  // ring-hash proxy, deploy/README.md).
  void PrepareContext(grpc::ClientContext* context, absl::Duration deadline,
                      absl::string_view session_id = "") const;
  // Generate's ending: the call's status (a refusal with the session's pulse
  // id from the trailers) or its final ChunkDone.
  absl::StatusOr<GenerateResult> EndGenerate(const grpc::ClientContext& context,
                                             const grpc::Status& status, bool have_done,
                                             GenerateResult result) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Hecate::Stub> stub_;
  ClientOptions options_;
  struct ResumedPulses;
  std::shared_ptr<ResumedPulses> resumed_;
};

}  // namespace hecate

#endif  // HECATE_CLIENT_HECATE_CLIENT_H_
