// DeferredPosts: batches the executor posts a thread makes while one is open.
//
// The engine loop's pool applies a step's results session by session, and
// each reply's first write is posted to the executor (write_queue.h). One
// post per session meant one executor wake (a futex syscall, tens of us
// under a hypervisor) per session per step, on the path between two steps.
// While a DeferredPosts is open on a thread, posts made there through
// PostDeferrableTo are collected; when it closes they go to their executor
// as one task that runs them in order. Outside any DeferredPosts,
// PostDeferrableTo posts at once, as PostTo does.
//
//   ParallelFor(n, 16, [&](int64_t b, int64_t e) {
//     DeferredPosts batch;  // one executor task per 16 sessions
//     for (...) job->program->Applied(...);  // replies post their writes
//   });
#ifndef HECATE_SERVER_DEFERRED_POSTS_H_
#define HECATE_SERVER_DEFERRED_POSTS_H_

#include <functional>
#include <utility>
#include <vector>

#include "server/executor.h"

namespace hecate {

class DeferredPosts {
 public:
  // Opens on this thread; an inner one opened while another is open
  // collects nothing (the outermost posts everything).
  DeferredPosts();
  // Posts what was collected, one task per executor; runs a batch here
  // when its executor refuses it (shut down), as an undeferred post would
  // have left it to its caller.
  ~DeferredPosts();
  DeferredPosts(const DeferredPosts&) = delete;
  DeferredPosts& operator=(const DeferredPosts&) = delete;

 private:
  friend std::function<bool(std::function<void()>)> PostDeferrableTo(Executor* executor);

  bool outermost_;
  std::vector<std::pair<Executor*, std::function<void()>>> tasks_;
};

// Posts to `executor` (false when it is null or shut down), deferred while a
// DeferredPosts is open on the posting thread.
std::function<bool(std::function<void()>)> PostDeferrableTo(Executor* executor);

}  // namespace hecate

#endif  // HECATE_SERVER_DEFERRED_POSTS_H_
