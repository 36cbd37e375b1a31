// HecateServer: hecated assembled — session store, gRPC service (with
// grpc.health.v1 and server reflection), the operator HTTP port, metrics and
// the drain sequence. main.cc only parses flags and calls Start.
//
//   absl::StatusOr<std::unique_ptr<HecateServer>> server =
//       HecateServer::Start(options, model, std::move(backend), std::move(keys));
//   ... on SIGTERM: (*server)->Drain();   // checkpoints every session
#ifndef HECATE_SERVER_HECATE_SERVER_H_
#define HECATE_SERVER_HECATE_SERVER_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "prometheus/registry.h"
#include "runtime/backend.h"
#include "server/auth.h"
#include "server/executor.h"
#include "server/hecate_service.h"
#include "server/http/http_server.h"
#include "server/metrics/hecate_metrics.h"
#include "server/metrics/store_metrics.h"
#include "server/service_context.h"
#include "sessions/session_store.h"
#include "sessions/session_expiry.h"
#include "sessions/shared_sessions.h"

namespace hecate {

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";
  std::string metrics_listen = "127.0.0.1:9464";
  std::string tls_cert;  // PEM files; both or neither
  std::string tls_key;
  std::string version = "0.1.0";
  int worker_threads = 0;  // 0: hardware threads
  // Threads gRPC may use for sync-API calls (server reflection streams, one
  // thread each while open); >= 2 (its pollers).
  int max_sync_threads = 16;
  absl::Duration drain_timeout = absl::Seconds(30);
  // Sessions idle longer than this expire (SessionStore::ExpireIdleByOwner,
  // run by an ExpirySweeper); zero: never. A user's session_ttl in the API
  // key file (server/auth.h) overrides it for that user's sessions.
  absl::Duration session_ttl = absl::ZeroDuration();
  // How the engine loop forms its steps (engine_loop.h); max_slice_tokens
  // 0: the backend's own step size.
  EngineLoop::Options engine;
  ServiceLimits limits;
  SessionStoreOptions store;
  // Replicas sharing sessions (sessions/shared_sessions.h): on when
  // shared.replica_id is set, with shared.root on storage every replica
  // mounts.
  SharedSessionsOptions shared;
};

class HecateServer {
 public:
  static absl::StatusOr<std::unique_ptr<HecateServer>> Start(
      const ServerOptions& options, std::unique_ptr<Backend> backend,
      std::unique_ptr<ApiKeys> keys);
  ~HecateServer();

  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_ != nullptr ? http_->port() : 0; }
  ApiKeys& keys() { return *keys_; }

  // SIGTERM: readiness goes false and new calls get UNAVAILABLE; running
  // requests finish (bounded by drain_timeout); the gRPC server shuts down;
  // every session is checkpointed to the state directory. Idempotent.
  absl::Status Drain();

 private:
  HecateServer(const ServerOptions& options, std::unique_ptr<Backend> backend,
               std::unique_ptr<ApiKeys> keys);
  absl::Status Init();

  const ServerOptions options_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<ApiKeys> keys_;
  prometheus::Registry registry_;
  std::unique_ptr<metrics::ServerMetrics> metrics_;
  std::unique_ptr<metrics::StoreMetrics> store_metrics_;  // store_'s observer: outlives it
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<SharedSessions> shared_;  // null unless replicas share sessions
  // Null unless session_ttl > 0 or the key file may give per-user TTLs.
  std::unique_ptr<ExpirySweeper> expiry_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<EngineLoop> engine_;  // after executor_: stops before it
  ServiceContext context_;
  std::unique_ptr<HecateService> service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<http::HttpServer> http_;  // made by Init, serves metrics_
  int grpc_port_ = 0;

  std::atomic<bool> drained_{false};
};

}  // namespace hecate

#endif  // HECATE_SERVER_HECATE_SERVER_H_
