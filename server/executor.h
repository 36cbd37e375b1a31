// Executor: a fixed pool of worker threads for the work gRPC callbacks must
// not do on their own threads (forward passes, checkpoint encoding, disk).
// Streams never own a thread; they post tasks here.
//
// Shutdown() stops taking tasks, runs what was queued, and joins.
// Executor(Executor::kManual) has no threads: tasks wait until the owner
// runs them with RunOne() (the stream fuzzer drives a call on one thread).
#ifndef HECATE_SERVER_EXECUTOR_H_
#define HECATE_SERVER_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace hecate {

class Executor {
 public:
  explicit Executor(int threads);
  enum ManualTag { kManual };
  explicit Executor(ManualTag);
  ~Executor();  // Shutdown()

  // False (and the task is dropped) after Shutdown.
  bool Post(std::function<void()> task);
  void Shutdown();
  int threads() const { return static_cast<int>(workers_.size()); }
  size_t queued() const;
  // Runs the oldest queued task on the calling thread; false when none is
  // queued.
  bool RunOne();

 private:
  void Work();
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

// Posts to `executor` (false when it is null or shut down): for a
// WriteQueue whose writes should start on the executor's threads.
inline std::function<bool(std::function<void()>)> PostTo(Executor* executor) {
  if (executor == nullptr) return nullptr;
  return [executor](std::function<void()> task) { return executor->Post(std::move(task)); };
}

}  // namespace hecate

#endif  // HECATE_SERVER_EXECUTOR_H_
