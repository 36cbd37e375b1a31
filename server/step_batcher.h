// StepBatcher: continuous batching of concurrent sessions' small steps.
//
// Requests that are generating register as participants (Participant RAII).
// Each of their steps (one sampled token, or a short chunk) goes through
// Apply, which blocks until the step has run in one SessionStore::ApplyBatch
// call together with every other participant's step that arrived meanwhile.
// The first waiting step leads: it runs the batch as soon as every
// participant has a step queued (nobody else can join), the batch is full,
// or `max_wait` has passed. With one participant a step runs at once: no
// added latency for a lone session.
//
// Worth it where ForwardBatch does one GEMM per projection for all sessions
// (the CUDA backend); the CPU backend's ForwardBatch is a loop, so hecated
// enables batching only on CUDA.
#ifndef HECATE_SERVER_STEP_BATCHER_H_
#define HECATE_SERVER_STEP_BATCHER_H_

#include <deque>
#include <functional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sessions/session_store.h"

namespace hecate {

class StepBatcher {
 public:
  struct Options {
    int max_batch = 256;
    absl::Duration max_wait = absl::Microseconds(500);
  };
  // `on_batch(size)` is called after each batch (metrics); may be empty.
  StepBatcher(SessionStore* store, Options options, std::function<void(int)> on_batch);

  class Participant {
   public:
    explicit Participant(StepBatcher* batcher);
    ~Participant();
    Participant(const Participant&) = delete;
    Participant& operator=(const Participant&) = delete;

   private:
    StepBatcher* batcher_;
  };

  // Runs `chunk` in a batch; returns its (the batch's) status.
  absl::Status Apply(const ChunkRequest& chunk);

 private:
  struct Step {
    ChunkRequest chunk;
    absl::Status status;
    bool done = false;
  };
  void Lead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ReadyToRun() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  SessionStore* const store_;
  const Options options_;
  const std::function<void(int)> on_batch_;

  absl::Mutex mu_;
  absl::CondVar changed_;
  std::deque<Step*> queue_ ABSL_GUARDED_BY(mu_);
  int participants_ ABSL_GUARDED_BY(mu_) = 0;
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hecate

#endif  // HECATE_SERVER_STEP_BATCHER_H_
