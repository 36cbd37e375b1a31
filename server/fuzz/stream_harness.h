// StreamHarness: hecated's Stream call in one process, without a network or
// a gRPC server: the real StreamReactor (authentication, its validation,
// backpressure, StartSessionRequest, the engine loop with small slices, the
// session store, the CPU backend on a micro model, the executor) bound to a
// stand-in for gRPC's stream object, for the stream fuzzer and its
// corpus-replay test.
//
// Promises: Run() delivers a sequence of raw messages on one Stream (each as
// given, bytes that need not parse) as gRPC would: one read at a time, each
// OnReadDone(true) with the next message, then OnReadDone(false) (the
// half-close); every write completes with OnWriteDone(true); OnDone once the
// reactor calls Finish, after every earlier reaction. Reactions run on the
// calling thread, never inside a call the reactor makes (as gRPC's own
// threads do), while requests run on the executor's threads. Pace::kSlowReader
// completes writes only while no read is due, so the reply queue fills and
// backpressure engages. It returns the replies with the status the reactor
// finished with. A stream that does not finish within the deadline is
// reported as such (deadline_exceeded), never waited on forever. Run()
// returns only once the executor has nothing of the call left to run or
// destroy, so everything the call allocated is freed by then (libFuzzer
// runs a leak check after any input whose allocations and frees differ).
// (Until 2026-12 the harness ran a gRPC server and in-process channel per
// process and a client call per input: 55 inputs/s under ASan; what gRPC
// itself adds is covered by tests/ against a real hecated.)
//
//   auto harness = StreamHarness::Start(StreamHarness::Options{});
//   std::string a = (*harness)->NewSession();
//   StreamRun run = (*harness)->Run(messages, StreamHarness::Auth::kValid,
//                                   StreamHarness::Pace::kPrompt);
#ifndef HECATE_SERVER_FUZZ_STREAM_HARNESS_H_
#define HECATE_SERVER_FUZZ_STREAM_HARNESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/registry.h"
#include "proto/hecate/v1/hecate.pb.h"
#include "runtime/backend.h"
#include "server/auth.h"
#include "server/engine_loop.h"
#include "server/executor.h"
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
    // Small slices and steps, so chunks are sliced and steps shared.
    EngineLoop::Options engine = {.max_slice_tokens = 16, .max_step_tokens = 64,
                                  .min_slice_tokens = 4};
  };
  // What the call's `authorization` metadata holds.
  enum class Auth { kValid, kMissing, kUnknownKey, kTwoValues };
  // When writes complete: as soon as they are due, or only while no read is.
  enum class Pace { kPrompt, kSlowReader };

  static constexpr char kUser[] = "fuzz";
  static constexpr char kKey[] = "fuzz-key-0123456789abcdef";

  static absl::StatusOr<std::unique_ptr<StreamHarness>> Start(const Options& options);
  ~StreamHarness();

  const ServiceLimits& limits() const { return context_.limits; }
  SessionStore& store() { return *store_; }

  // A fresh session of kUser at pulse id 0; aborts if the store refuses.
  std::string NewSession();

  StreamRun Run(const std::vector<std::string>& messages, Auth auth, Pace pace);

 private:
  StreamHarness() = default;
  // Returns once every task posted to the executor so far has run and been
  // destroyed.
  void Quiesce();
  bool AllWorkersWaiting() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(quiesce_mu_);
  bool AllWorkersPassed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(quiesce_mu_);

  Options options_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<ApiKeys> keys_;
  prometheus::Registry registry_;
  std::unique_ptr<metrics::ServerMetrics> metrics_;
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<EngineLoop> engine_;
  ServiceContext context_;
  absl::Mutex quiesce_mu_;
  int quiesce_started_ ABSL_GUARDED_BY(quiesce_mu_) = 0;
  int quiesce_finished_ ABSL_GUARDED_BY(quiesce_mu_) = 0;
};

}  // namespace hecate::fuzz

#endif  // HECATE_SERVER_FUZZ_STREAM_HARNESS_H_
