// Host copies taken off the caller's thread: a rewind snapshot (snapshots.h)
// needs the whole state in host memory (120 MB for the base model), and a
// download of that size to fresh pageable memory takes ~90 ms on an H200 —
// long enough to stall every session in the engine step that took it. The
// caller instead copies the state into a spare device state (a device copy:
// microseconds) and hands the spare here; one background thread downloads
// it into a PendingHostCopy and gives the spare back through `recycle`.
//
// A PendingHostCopy is usable at once: Wait() blocks until its download
// ended (rewinds are rare; they wait at most one download per snapshot
// still in flight). Downloads run in the order scheduled. The destructor
// finishes every queued download before it returns, so no spare outlives
// the recycler.
//
//   auto copy = std::make_shared<PendingHostCopy>(config);
//   copies.Schedule(std::move(spare), copy);   // returns at once
//   ...
//   absl::StatusOr<const ModelState*> host = copy->Wait();
#ifndef HECATE_SESSIONS_HOST_COPIES_H_
#define HECATE_SESSIONS_HOST_COPIES_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/backend.h"
#include "runtime/model_state.h"

namespace hecate {

// Host states for snapshots, kept for reuse. A new one is the whole state
// in fresh pages to fault in and zero (120 MB for the base model; on the CPU
// backend that happens on the engine thread, ~10 ms a snapshot on this
// project's VM even for the 2.2 MB tiny state), and freeing one unmaps them,
// while the snapshots of a session that keeps going replace each other one
// for one. Keeps at most `max_kept` free states; more are released in the
// background (base/background_release.h). Thread-safe.
class HostStatePool {
 public:
  HostStatePool(const ModelConfig& config, size_t max_kept)
      : config_(config), max_kept_(max_kept) {}
  HostStatePool(const HostStatePool&) = delete;
  HostStatePool& operator=(const HostStatePool&) = delete;

  // A state of the pool's config; a reused one still holds an old state, so
  // the caller overwrites all of it (Backend::Download does).
  std::unique_ptr<ModelState> Take();
  // Takes `state` back (another config's is released).
  void Give(std::unique_ptr<ModelState> state);
  size_t kept() const;

 private:
  const ModelConfig config_;
  const size_t max_kept_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<ModelState>> free_ ABSL_GUARDED_BY(mu_);
};

// A host state being filled by a download; ready, or failed, once Wait returns.
class PendingHostCopy {
 public:
  // With `pool`, the state comes from it and goes back to it.
  explicit PendingHostCopy(const ModelConfig& config,
                           std::shared_ptr<HostStatePool> pool = nullptr)
      : config_(config), bytes_(StateLayout(config).total_bytes()), pool_(std::move(pool)) {}
  // The state goes back to the pool, or is freed on the background releaser's thread
  // (base/background_release.h): the last reference usually goes on the
  // engine thread, when a newer snapshot pushes this one out of its
  // session's budget, and unmapping 120 MB there would hold up the step.
  // (It was not what made snapshots cost 3-4% of served tokens/s at 64
  // sessions on the H200: BENCHMARKS.md, 2026-12-03 15:20-15:43 UTC.)
  ~PendingHostCopy();
  PendingHostCopy(const PendingHostCopy&) = delete;
  PendingHostCopy& operator=(const PendingHostCopy&) = delete;

  // Blocks until the download ended: the state, or why there is none.
  absl::StatusOr<const ModelState*> Wait() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the download has ended (never blocks).
  bool done() const ABSL_LOCKS_EXCLUDED(mu_);
  // Host bytes the copy holds (known before it is filled).
  size_t bytes() const { return bytes_; }

  // Writer side: the state to fill, then Finish with how it went. Made on
  // first use, by the writer: a new state is zero-filled (120 MB for the
  // base model), which the thread that scheduled the copy should not pay.
  ModelState& target();
  void Finish(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const ModelConfig config_;
  const size_t bytes_;
  const std::shared_ptr<HostStatePool> pool_;
  // Written by the writer before Finish; read only after done_.
  std::unique_ptr<ModelState> state_;
  mutable absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

class HostCopies {
 public:
  // Called, on the background thread, with each spare once its download ended.
  using Recycle = std::function<void(std::unique_ptr<BackendState>)>;

  HostCopies(Backend& backend, Recycle recycle);
  ~HostCopies();
  HostCopies(const HostCopies&) = delete;
  HostCopies& operator=(const HostCopies&) = delete;

  // Downloads `source` into `target` in the background. `source` must be a
  // state nobody else touches (a spare holding a copy).
  void Schedule(std::unique_ptr<BackendState> source, std::shared_ptr<PendingHostCopy> target)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Job {
    std::unique_ptr<BackendState> source;
    std::shared_ptr<PendingHostCopy> target;
  };
  void Run();

  Backend& backend_;
  const Recycle recycle_;
  absl::Mutex mu_;
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_HOST_COPIES_H_
