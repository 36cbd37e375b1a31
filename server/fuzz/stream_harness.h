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
// threads do). Pace::kSlowReader completes writes only while no read is
// due, so the reply queue fills and backpressure engages. It returns the
// replies with the status the reactor finished with.
// One thread, deterministic: the executor has no threads
// (Executor::kManual) and the engine loop none (EngineLoop::Options::driven);
// Run() itself runs, one at a time, a reaction owed, an executor task or an
// engine step, choosing among those that can run with a generator seeded by
// `schedule_seed`, so an input has one interleaving, the same on every
// replay, and inputs differing in the seed explore others. A call that
// neither finishes nor has anything left to run (a reaction, task or step
// missing), or runs past the deadline, is reported as such
// (deadline_exceeded), never waited on forever. Run() returns only once
// nothing of the call is left to run or destroy, so everything the call
// allocated is freed by then (libFuzzer runs a leak check after any input
// whose allocations and frees differ).
// (Until 2026-12 the harness ran a gRPC server and in-process channel per
// process and a client call per input: 55 inputs/s under ASan; then the
// reactor bound to this stand-in stream with the executor's and the engine
// loop's threads, 190-340 inputs/s, a quarter of it thread hand-offs; what
// gRPC itself adds is covered by tests/ against a real hecated.)
//
//   auto harness = StreamHarness::Start(StreamHarness::Options{});
//   std::string a = (*harness)->NewSession();
//   StreamRun run = (*harness)->Run(messages, StreamHarness::Auth::kValid,
//                                   StreamHarness::Pace::kPrompt, /*schedule_seed=*/7);
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

  StreamRun Run(const std::vector<std::string>& messages, Auth auth, Pace pace,
                uint64_t schedule_seed);

 private:
  StreamHarness() = default;

  Options options_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<ApiKeys> keys_;
  prometheus::Registry registry_;
  std::unique_ptr<metrics::ServerMetrics> metrics_;
  std::unique_ptr<SessionStore> store_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<EngineLoop> engine_;
  ServiceContext context_;
};

}  // namespace hecate::fuzz

#endif  // HECATE_SERVER_FUZZ_STREAM_HARNESS_H_
