// ServiceContext: what every RPC handler of hecated shares — the session
// store, the worker pool, limits, auth, metrics and the drain flag. Owned by
// HecateServer; handlers hold a pointer.
#ifndef HECATE_SERVER_SERVICE_CONTEXT_H_
#define HECATE_SERVER_SERVICE_CONTEXT_H_

#include <atomic>
#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "server/auth.h"
#include "server/deferred_posts.h"
#include "server/executor.h"
#include "server/engine_loop.h"
#include "server/metrics/hecate_metrics.h"
#include "server/validation.h"
#include "sessions/session_store.h"
#include "sessions/shared_sessions.h"

namespace hecate {

struct ServiceContext {
  SessionStore* store = nullptr;
  Executor* executor = nullptr;
  const ApiKeys* keys = nullptr;
  metrics::ServerMetrics* metrics = nullptr;
  // Runs every forward pass (engine_loop.h); required.
  EngineLoop* engine = nullptr;
  // Sessions shared with other replicas (adoption, server/routing.h); null:
  // this daemon shares nothing.
  SharedSessions* shared = nullptr;
  ServiceLimits limits;
  // A reply queue's first write starts on the executor instead of the
  // thread that produced the reply (write_queue.h), so the engine loop's
  // pool does not wait on gRPC (serialising, a sendmsg per reply) before the
  // next step. The engine loop batches these posts (DeferredPosts): one
  // executor task per group of sessions, not one wake per reply.
  // HecateServer turns it off for the CPU backend (hecate_server.cc).
  bool start_writes_on_executor = true;
  // A reply queue's `start_elsewhere` as the flag above says (write_queue.h).
  std::function<bool(std::function<void()>)> WriteStarter() const {
    return PostDeferrableTo(start_writes_on_executor ? executor : nullptr);
  }
  v1::ModelInfo model_info;
  std::atomic<bool> draining{false};
  // Requests (unary calls and stream chunks) being worked on right now; the
  // drain waits for it to reach zero.
  std::atomic<int> busy_requests{0};

  // The caller's user, or UNAUTHENTICATED; UNAVAILABLE while draining.
  absl::StatusOr<std::string> Authenticate(const grpc::CallbackServerContext& call) const;
  // The same for a call's client metadata as given (the stream fuzzer drives
  // StreamReactor without a gRPC call).
  absl::StatusOr<std::string> Authenticate(
      const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const;
};

// Session metadata as the API shows it.
v1::Session ToProto(const SessionInfo& info);

}  // namespace hecate

#endif  // HECATE_SERVER_SERVICE_CONTEXT_H_
