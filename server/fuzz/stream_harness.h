// StreamHarness: hecated's Stream call in one process, without a network:
// the real HecateService (StreamReactor, its validation, RunSessionRequest,
// the session store, the CPU backend on a micro model) behind gRPC's
// in-process channel, for the stream fuzzer and its corpus-replay test.
//
// Promises: Run() sends a sequence of raw messages on one Stream (each as
// given, bytes that need not parse), half-closes, reads every reply, and
// returns them with the call's status. Writes and reads proceed
// independently, so the server's backpressure never deadlocks the harness.
// Every call carries a deadline; a stream that does not finish within it is
// reported as such (kDeadlineExceeded), never waited on forever.
//
//   auto harness = StreamHarness::Start(StreamHarness::Options{});
//   std::string a = (*harness)->NewSession();
//   StreamRun run = (*harness)->Run(messages, StreamHarness::Auth::kValid);
#ifndef HECATE_SERVER_FUZZ_STREAM_HARNESS_H_
#define HECATE_SERVER_FUZZ_STREAM_HARNESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/server.h"
#include "prometheus/registry.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "runtime/backend.h"
#include "server/auth.h"
#include "server/executor.h"
#include "server/hecate_service.h"
#include "server/metrics/hecate_metrics.h"
#include "server/service_context.h"
#include "sessions/session_store.h"

namespace hecate::fuzz {

struct StreamRun {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  std::vector<v1::StreamResponse> replies;  // in arrival order
  bool deadline_exceeded = false;
};

class StreamHarness {
 public:
  struct Options {
    uint64_t model_seed = 20240601;
    int worker_threads = 2;
    ServiceLimits limits;
    absl::Duration deadline = absl::Seconds(30);
  };
  // What the call's `authorization` metadata holds.
  enum class Auth { kValid, kMissing, kUnknownKey, kTwoValues };

  static constexpr char kUser[] = "fuzz";
  static constexpr char kKey[] = "fuzz-key-0123456789abcdef";

  static absl::StatusOr<std::unique_ptr<StreamHarness>> Start(const Options& options);
  ~StreamHarness();

  const ServiceLimits& limits() const { return context_.limits; }
  SessionStore& store() { return *store_; }

  // A fresh session of kUser at pulse id 0; aborts if the store refuses.
  std::string NewSession();

  StreamRun Run(const std::vector<std::string>& messages, Auth auth);

 private:
  StreamHarness() = default;

  Options options_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<ApiKeys> keys_;
  prometheus::Registry registry_;
  std::unique_ptr<metrics::ServerMetrics> metrics_;
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<Executor> executor_;
  ServiceContext context_;
  std::unique_ptr<HecateService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace hecate::fuzz

#endif  // HECATE_SERVER_FUZZ_STREAM_HARNESS_H_
