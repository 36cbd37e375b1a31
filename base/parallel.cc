#include "base/parallel.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace hecate {
namespace {

// Chunks per ParallelFor call; more than the core count so uneven chunks and
// concurrent callers still balance.
constexpr int64_t kMaxChunks = 16;

class Pool {
 public:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency()) - 1;
    for (int i = 0; i < std::max(n, 0); ++i) workers_.emplace_back([this] { Work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int threads() const { return static_cast<int>(workers_.size()); }

  void Push(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

  // Runs one queued task on the calling thread, if any.
  bool RunOne() {
    std::function<void()> task;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (tasks_.empty()) return false;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
    return true;
  }

 private:
  void Work() {
    pthread_setname_np(pthread_self(), "hecate-pool");
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
        if (stop_ && tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
  bool stop_ = false;
};

std::atomic<bool> run_inline{false};

// Set while this thread runs a chunk of a ParallelFor that already has a
// chunk for every thread: a ParallelFor inside it runs inline. Splitting
// again would only queue tasks no idle thread is left to take (a batch of
// 64 sessions issued ~40 k pushes and futex wakes a step), and on a loaded
// machine each wake is a chance to be preempted mid-barrier.
thread_local bool inside_saturated_chunk = false;

Pool& GlobalPool() {
  static Pool* pool = new Pool();  // never destroyed: workers may outlive main's statics
  return *pool;
}

}  // namespace

int PoolThreads() { return GlobalPool().threads(); }

void RunParallelForInline() { run_inline.store(true); }

void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min(kMaxChunks, (n + grain - 1) / grain);
  if (chunks <= 1 || run_inline.load(std::memory_order_relaxed) || inside_saturated_chunk) {
    fn(0, n);
    return;
  }
  Pool& pool = GlobalPool();
  if (pool.threads() == 0) {
    fn(0, n);
    return;
  }
  const int64_t step = (n + chunks - 1) / chunks;
  // Lives on this frame: every chunk decrements `remaining` under the mutex,
  // and we return only after seeing zero under it, so no chunk touches it
  // after we leave.
  struct Shared {
    int64_t remaining;
    std::mutex mu;
    std::condition_variable done;
  } shared;
  shared.remaining = chunks;
  const bool saturated = chunks > pool.threads();
  auto run = [&](int64_t c) {
    const int64_t begin = c * step, end = std::min(n, begin + step);
    const bool outer = inside_saturated_chunk;
    inside_saturated_chunk = outer || saturated;
    if (begin < end) fn(begin, end);
    inside_saturated_chunk = outer;
    std::lock_guard<std::mutex> lock(shared.mu);
    if (--shared.remaining == 0) shared.done.notify_all();
  };
  for (int64_t c = 1; c < chunks; ++c) pool.Push([&run, c] { run(c); });
  run(0);
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(shared.mu);
      if (shared.remaining == 0) return;
    }
    // Help with queued work (ours or another caller's) instead of idling.
    if (!pool.RunOne()) {
      std::unique_lock<std::mutex> lock(shared.mu);
      shared.done.wait_for(lock, std::chrono::microseconds(200),
                           [&] { return shared.remaining == 0; });
    }
  }
}

}  // namespace hecate
