#include "server/deferred_posts.h"

#include <memory>

namespace hecate {
namespace {

thread_local DeferredPosts* open_batch = nullptr;

}  // namespace

DeferredPosts::DeferredPosts() : outermost_(open_batch == nullptr) {
  if (outermost_) open_batch = this;
}

DeferredPosts::~DeferredPosts() {
  if (!outermost_) return;
  open_batch = nullptr;
  // Usually one executor; batches keep each executor's tasks in order.
  while (!tasks_.empty()) {
    Executor* executor = tasks_.front().first;
    auto batch = std::make_shared<std::vector<std::function<void()>>>();
    std::vector<std::pair<Executor*, std::function<void()>>> others;
    for (auto& [target, task] : tasks_) {
      if (target == executor) {
        batch->push_back(std::move(task));
      } else {
        others.emplace_back(target, std::move(task));
      }
    }
    tasks_ = std::move(others);
    auto run = [batch] {
      for (std::function<void()>& task : *batch) task();
    };
    if (!executor->Post(run)) run();
  }
}

std::function<bool(std::function<void()>)> PostDeferrableTo(Executor* executor) {
  if (executor == nullptr) return nullptr;
  return [executor](std::function<void()> task) {
    if (open_batch != nullptr) {
      open_batch->tasks_.emplace_back(executor, std::move(task));
      return true;
    }
    return executor->Post(std::move(task));
  };
}

}  // namespace hecate
