#include "sessions/host_copies.h"

#include "base/background_release.h"

namespace hecate {

std::unique_ptr<ModelState> HostStatePool::Take() {
  {
    absl::MutexLock lock(&mu_);
    if (!free_.empty()) {
      std::unique_ptr<ModelState> state = std::move(free_.back());
      free_.pop_back();
      return state;
    }
  }
  return std::make_unique<ModelState>(config_);
}

void HostStatePool::Give(std::unique_ptr<ModelState> state) {
  if (state == nullptr) return;
  if (state->config() == config_) {
    absl::MutexLock lock(&mu_);
    if (free_.size() < max_kept_) {
      free_.push_back(std::move(state));
      return;
    }
  }
  ReleaseInBackground(std::move(state));
}

size_t HostStatePool::kept() const {
  absl::MutexLock lock(&mu_);
  return free_.size();
}

PendingHostCopy::~PendingHostCopy() {
  if (pool_ != nullptr) {
    pool_->Give(std::move(state_));
  } else {
    ReleaseInBackground(std::move(state_));
  }
}

absl::StatusOr<const ModelState*> PendingHostCopy::Wait() const {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
  if (!status_.ok()) return status_;
  if (state_ == nullptr) return absl::InternalError("host copy finished without a state");
  return state_.get();
}

ModelState& PendingHostCopy::target() {
  if (state_ == nullptr) {
    state_ = pool_ != nullptr ? pool_->Take() : std::make_unique<ModelState>(config_);
  }
  return *state_;
}

bool PendingHostCopy::done() const {
  absl::MutexLock lock(&mu_);
  return done_;
}

void PendingHostCopy::Finish(absl::Status status) {
  absl::MutexLock lock(&mu_);
  status_ = std::move(status);
  done_ = true;
}

HostCopies::HostCopies(Backend& backend, Recycle recycle)
    : backend_(backend), recycle_(std::move(recycle)), thread_([this] { Run(); }) {}

HostCopies::~HostCopies() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void HostCopies::Schedule(std::unique_ptr<BackendState> source,
                          std::shared_ptr<PendingHostCopy> target) {
  absl::MutexLock lock(&mu_);
  jobs_.push_back(Job{std::move(source), std::move(target)});
}

void HostCopies::Run() {
  for (;;) {
    Job job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !jobs_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      // Queued downloads finish even when stopping: their spares go back
      // and every PendingHostCopy ends.
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job.target->Finish(backend_.Download(*job.source, job.target->target()));
    recycle_(std::move(job.source));
  }
}

}  // namespace hecate
