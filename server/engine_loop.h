// EngineLoop: the one thread per backend that runs every forward pass the
// daemon's requests ask for. No request thread waits on the device: a
// request claims its session, hands the engine an EngineJob (the lease and
// the request's ChunkProgram) and returns; the engine calls the job's `done`
// on the completion executor once the program has finished.
//
// Each step is one SessionStore::ApplyBatch (one Backend::ForwardBatch)
// formed from all ready work:
//  - decode: every job whose next apply is one token (a generated token, a
//    one-byte chunk) joins, up to options.max_decode_batch (the least
//    recently served first when there are more);
//  - prefill: longer applies go in slices (SlicedChunk) of at most
//    options.max_slice_tokens under the step's prefill budget, shared round
//    robin by user, then by session: users in the order they were last
//    served, each giving its least recently served job one slice, round
//    after round while budget is left (a new job counts as served when it
//    is admitted, so it waits behind those already waiting; a slice cut
//    short by the budget keeps its job's place until the job has had
//    max_slice_tokens in that turn, or its chunk is applied). The step's
//    budget comes from a PrefillPacer (server/prefill_pacer.h): with decode
//    work in the step, input adds on average at most options.prefill_share
//    of a decode step's time, and no step more than the larger of that and
//    one input token's cost; so a user streaming megabytes adds a bounded
//    fraction to every other user's inter-token latency. Without decode
//    work the budget is options.max_step_tokens.
//  - between steps, each session's results (the next sampled token, its
//    replies) are handled on the shared pool (base/parallel.h).
// Order and atomicity: one job per session at a time (the job holds the
// session's lease); a chunk counts as applied when its last slice is, and a
// failed step rolls back every chunk in it (SessionStore::ApplyBatch).
// Cancellation: a job whose cancel flag is set gets no further step: an
// input chunk in progress is rolled back (CANCELLED), a generation ends
// with FINISH_REASON_CANCELLED, both within one step.
// Completion runs on `completions`, never on the engine thread: releasing a
// lease may move sessions between tiers (disk writes).
#ifndef HECATE_SERVER_ENGINE_LOOP_H_
#define HECATE_SERVER_ENGINE_LOOP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/chunk_program.h"
#include "server/executor.h"
#include "server/metrics/hecate_metrics.h"
#include "server/prefill_pacer.h"
#include "sessions/session_store.h"

namespace hecate {

// One request's work on one session, from submission to completion.
struct EngineJob {
  std::string user;
  SessionLease lease;
  std::unique_ptr<ChunkProgram> program;
  const std::atomic<bool>* cancel = nullptr;  // may be null
  absl::Time arrival = absl::Now();
  // Called on the completion executor once `program` has finished (or, with
  // `shutdown` set, when the engine stopped before it could).
  std::function<void(std::unique_ptr<EngineJob>)> done;

  // Filled by the engine.
  absl::Duration queue_time;  // submission to its first step
  absl::Status shutdown;      // UNAVAILABLE when the engine stopped first

 private:
  friend class EngineLoop;
  std::optional<ChunkProgram::Apply> apply_;
  SlicedChunk sliced_;
  // The engine step that last included it, or after which it was admitted:
  // the longest waiting job goes first.
  uint64_t last_served_ = 0;
  // Prefill tokens it has had in its current turn (below max_slice_tokens).
  size_t turn_tokens_ = 0;
  bool stepped_ = false;
  absl::Duration forward_;   // of the steps the current apply was in
  // Next() was already asked after the last step (nullopt: finished).
  bool next_ready_ = false;
  std::vector<float> rows_;  // kAll slices' logits
};

class EngineLoop {
 public:
  struct Options {
    // Longest prefill slice (the backend's own step size is a good value;
    // HecateServer takes it for 0).
    size_t max_slice_tokens = 0;
    // Prefill tokens per step when no decode work waits.
    size_t max_step_tokens = 8192;
    // Shortest prefill slice in a step with decode work.
    size_t min_slice_tokens = 1;
    // Prefill time allowed per step, relative to the step's decode time.
    double prefill_share = 0.5;
    size_t max_decode_batch = 1024;
    // Test-only: no engine thread; the owner calls Poll() (the stream
    // fuzzer drives a call on one thread).
    bool driven = false;
  };

  // `store` and `completions` must outlive the loop; `metrics` may be null.
  EngineLoop(SessionStore* store, Executor* completions, Options options,
             metrics::ServerMetrics* metrics);
  ~EngineLoop();  // Shutdown()

  // Runs `job` (program not finished, lease live) to the end.
  void Submit(std::unique_ptr<EngineJob> job);
  // Stops stepping: every job still held is rolled back where it is mid
  // chunk and completed with `shutdown` set. Joins the engine thread.
  void Shutdown();

  // Jobs held right now (submitted, not completed).
  size_t jobs() const;

  // With options.driven: admits what was submitted and runs one step on the
  // calling thread, as the engine thread's loop does; false when no job was
  // held (nothing done).
  bool Poll();

 private:
  void Run();
  // One turn of the loop: admits the incoming jobs, refreshes and steps;
  // false (nothing done) once stopping.
  bool Turn();
  // Completes every job still held with `shutdown` set.
  void DropActive();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One step over `active_`; completes the jobs that finished.
  void Step();
  // Cancels what must be cancelled and asks programs for their next apply;
  // finished jobs are completed and removed.
  void Refresh();
  void Complete(std::unique_ptr<EngineJob> job);

  SessionStore* const store_;
  Executor* const completions_;
  Options options_;
  metrics::ServerMetrics* const metrics_;

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<EngineJob>> incoming_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t held_ ABSL_GUARDED_BY(mu_) = 0;

  // The engine thread's own.
  std::vector<std::unique_ptr<EngineJob>> active_;
  absl::flat_hash_map<std::string, uint64_t> user_last_served_;
  uint64_t step_ = 0;
  PrefillPacer pacer_;
  absl::Time last_slow_step_log_ = absl::InfinitePast();

  std::thread thread_;
};

}  // namespace hecate

#endif  // HECATE_SERVER_ENGINE_LOOP_H_
