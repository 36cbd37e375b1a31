#include "base/background_release.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

namespace hecate {
namespace {

class Releaser {
 public:
  Releaser() { std::thread([this] { Run(); }).detach(); }

  void Push(std::shared_ptr<void> object) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(object));
      ++queued_;
    }
    wake_.notify_one();
  }

  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t target = queued_;
    done_.wait(lock, [&] { return released_ >= target; });
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return !queue_.empty(); });
      std::shared_ptr<void> object = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      object.reset();  // the release itself, outside the lock
      lock.lock();
      ++released_;
      done_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::deque<std::shared_ptr<void>> queue_;
  uint64_t queued_ = 0;
  uint64_t released_ = 0;
};

// Never destroyed: objects released during static destruction still have a
// thread to go to.
Releaser& TheReleaser() {
  static Releaser* const releaser = new Releaser;
  return *releaser;
}

}  // namespace

void ReleaseInBackgroundShared(std::shared_ptr<void> object) {
  if (object != nullptr) TheReleaser().Push(std::move(object));
}

void WaitForBackgroundReleases() { TheReleaser().Wait(); }

}  // namespace hecate
