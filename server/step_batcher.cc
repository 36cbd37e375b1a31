#include "server/step_batcher.h"

#include <algorithm>

namespace hecate {

StepBatcher::StepBatcher(SessionStore* store, Options options, std::function<void(int)> on_batch)
    : store_(store), options_(options), on_batch_(std::move(on_batch)) {}

StepBatcher::Participant::Participant(StepBatcher* batcher) : batcher_(batcher) {
  if (batcher_ == nullptr) return;
  absl::MutexLock lock(&batcher_->mu_);
  ++batcher_->participants_;
}

StepBatcher::Participant::~Participant() {
  if (batcher_ == nullptr) return;
  absl::MutexLock lock(&batcher_->mu_);
  --batcher_->participants_;
  batcher_->changed_.SignalAll();  // a leader may be waiting for this one
}

bool StepBatcher::ReadyToRun() const {
  const int queued = static_cast<int>(queue_.size());
  return queued >= options_.max_batch || queued >= participants_;
}

absl::Status StepBatcher::Apply(const ChunkRequest& chunk) {
  Step step{chunk, absl::OkStatus(), false};
  absl::MutexLock lock(&mu_);
  queue_.push_back(&step);
  changed_.SignalAll();
  while (!step.done) {
    if (!leading_) {
      Lead();
    } else {
      changed_.Wait(&mu_);
    }
  }
  return step.status;
}

void StepBatcher::Lead() {
  leading_ = true;
  const absl::Time deadline = absl::Now() + options_.max_wait;
  while (!ReadyToRun() && absl::Now() < deadline) {
    changed_.WaitWithDeadline(&mu_, deadline);
  }
  const size_t n = std::min<size_t>(queue_.size(), static_cast<size_t>(options_.max_batch));
  std::vector<Step*> batch(queue_.begin(), queue_.begin() + n);
  queue_.erase(queue_.begin(), queue_.begin() + n);
  std::vector<ChunkRequest> chunks;
  chunks.reserve(n);
  for (Step* s : batch) chunks.push_back(s->chunk);

  mu_.Unlock();
  const absl::Status status = store_->ApplyBatch(absl::MakeSpan(chunks));
  if (on_batch_) on_batch_(static_cast<int>(n));
  mu_.Lock();

  for (Step* s : batch) {
    s->status = status;
    s->done = true;
  }
  leading_ = false;
  changed_.SignalAll();
}

}  // namespace hecate
