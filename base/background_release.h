// ReleaseInBackground: destroys an object on a process-wide background
// thread instead of the caller's.
//
// For large host allocations dropped on a latency-critical thread: freeing
// a whole model state (120 MB for the base config) unmaps it page by page,
// milliseconds during which the engine thread that dropped the last
// reference (a rewind snapshot pushed out of its session's budget) would
// stall every session in the step. The thread starts on first use and lives
// as long as the process; releases run in the order they were queued.
#ifndef HECATE_BASE_BACKGROUND_RELEASE_H_
#define HECATE_BASE_BACKGROUND_RELEASE_H_

#include <memory>
#include <utility>

namespace hecate {

// Queues `object` (any shared_ptr; its deleter runs there) for release.
void ReleaseInBackgroundShared(std::shared_ptr<void> object);

template <typename T, typename D>
void ReleaseInBackground(std::unique_ptr<T, D> object) {
  if (object != nullptr) ReleaseInBackgroundShared(std::shared_ptr<T>(std::move(object)));
}

// Blocks until everything queued before the call has been released (tests).
void WaitForBackgroundReleases();

}  // namespace hecate

#endif  // HECATE_BASE_BACKGROUND_RELEASE_H_
