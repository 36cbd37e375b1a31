#include "server/engine_loop.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/parallel.h"
#include "glog/logging.h"
#include "server/deferred_posts.h"

namespace hecate {
namespace {

// The fewest sessions whose results one pool task handles between steps (a
// sampled token, a reply made and queued: a few us each; ParallelFor makes
// at most 16 tasks, so large batches give each more). Measured on the H200
// machine's 16-core host at 64 sessions: 16 a task (the engine thread and
// three pool threads) 0.19-0.21 ms of host time per step, 64 a task (all on
// the engine thread, no hand-off) 0.35-0.40 ms: the hand-off costs less
// than the work it spreads.
constexpr int64_t kJobsPerTask = 16;
// Sessions whose reply write starts go to the executor as one task: the
// first replies of a step leave while the rest are still being made.
constexpr int64_t kJobsPerPost = 16;

EngineLoop::Options WithDefaults(EngineLoop::Options options) {
  if (options.max_slice_tokens == 0) options.max_slice_tokens = 2048;
  return options;
}

TokenSource SourceOf(const ChunkProgram::Apply& apply) {
  return apply.generated ? TokenSource::kGenerated : TokenSource::kInput;
}

}  // namespace

EngineLoop::EngineLoop(SessionStore* store, Executor* completions, Options options,
                       metrics::ServerMetrics* metrics)
    : store_(store),
      completions_(completions),
      options_(WithDefaults(options)),
      metrics_(metrics),
      pacer_(options_.prefill_share, options_.max_slice_tokens, options_.max_step_tokens) {
  if (!options_.driven) thread_ = std::thread([this] { Run(); });
}

EngineLoop::~EngineLoop() { Shutdown(); }

void EngineLoop::Submit(std::unique_ptr<EngineJob> job) {
  {
    absl::MutexLock lock(&mu_);
    ++held_;  // Complete counts it out
    if (!stopping_) {
      incoming_.push_back(std::move(job));
      return;
    }
  }
  job->shutdown = absl::UnavailableError("server is shutting down");
  Complete(std::move(job));
}

void EngineLoop::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (options_.driven) {
    Turn();  // admits what was submitted, then stops
    DropActive();
  }
}

size_t EngineLoop::jobs() const {
  absl::MutexLock lock(&mu_);
  return held_;
}

bool EngineLoop::HasWork() const { return stopping_ || !incoming_.empty(); }

bool EngineLoop::Poll() {
  {
    absl::MutexLock lock(&mu_);
    if (held_ == 0) return false;
  }
  return Turn();
}

void EngineLoop::Run() {
  pthread_setname_np(pthread_self(), "hecate-engine");
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (active_.empty()) mu_.Await(absl::Condition(this, &EngineLoop::HasWork));
    }
    if (!Turn()) break;
  }
  DropActive();
}

bool EngineLoop::Turn() {
  {
    absl::MutexLock lock(&mu_);
    for (std::unique_ptr<EngineJob>& job : incoming_) {
      // A new job waits from here, behind every job already waiting,
      // whether for its first slice or its next: counted as never served
      // (0), a session's next chunk would overtake every chunk mid-way, so
      // under steady arrivals sliced chunks starved (the soak's 5-minute
      // tail).
      job->last_served_ = step_;
      active_.push_back(std::move(job));
    }
    incoming_.clear();
    if (stopping_) return false;
  }
  Refresh();
  if (!active_.empty()) Step();
  return true;
}

void EngineLoop::DropActive() {
  for (std::unique_ptr<EngineJob>& job : active_) {
    if (job->sliced_.active()) store_->AbandonChunk(job->lease, job->sliced_).IgnoreError();
    job->shutdown = absl::UnavailableError("server is shutting down");
    Complete(std::move(job));
  }
  active_.clear();
}

void EngineLoop::Refresh() {
  std::vector<std::unique_ptr<EngineJob>> still;
  still.reserve(active_.size());
  for (std::unique_ptr<EngineJob>& job : active_) {
    while (true) {
      if (!job->apply_.has_value() && !job->next_ready_) job->apply_ = job->program->Next();
      job->next_ready_ = false;
      if (!job->apply_.has_value()) break;  // finished
      if (job->cancel == nullptr || !job->cancel->load(std::memory_order_relaxed)) break;
      // Cancelled: no further step; the program decides what that means.
      absl::Status cancelled =
          job->sliced_.active()
              ? store_->AbandonChunk(job->lease, job->sliced_)
              : absl::CancelledError(absl::StrCat("chunk cancelled; session ",
                                                  job->lease.session_id(),
                                                  " unchanged at pulse id ",
                                                  job->lease.pulse_id()));
      job->program->Applied(cancelled, job->forward_);
      job->apply_.reset();
      job->next_ready_ = false;
      job->forward_ = absl::ZeroDuration();
    }
    if (job->apply_.has_value()) {
      still.push_back(std::move(job));
    } else {
      Complete(std::move(job));
    }
  }
  active_ = std::move(still);
}

void EngineLoop::Step() {
  ++step_;
  const absl::Time formed_from = absl::Now();
  std::vector<EngineJob*> decode;
  absl::flat_hash_map<std::string, std::vector<EngineJob*>> prefill_by_user;
  for (std::unique_ptr<EngineJob>& job : active_) {
    if (job->apply_->tokens.size() == 1 && !job->sliced_.active()) {
      decode.push_back(job.get());
    } else {
      prefill_by_user[job->user].push_back(job.get());
    }
  }
  auto least_recently_served = [](const EngineJob* a, const EngineJob* b) {
    return a->last_served_ != b->last_served_ ? a->last_served_ < b->last_served_
                                              : a->arrival < b->arrival;
  };
  if (decode.size() > options_.max_decode_batch) {
    std::stable_sort(decode.begin(), decode.end(), least_recently_served);
    decode.resize(options_.max_decode_batch);
  }

  // Prefill slices: round robin by user (least recently served first), then
  // by session within a user.
  std::vector<std::pair<std::string, std::vector<EngineJob*>>> users(prefill_by_user.begin(),
                                                                     prefill_by_user.end());
  for (auto& [user, jobs] : users) {
    std::stable_sort(jobs.begin(), jobs.end(), least_recently_served);
  }
  std::stable_sort(users.begin(), users.end(), [this](const auto& a, const auto& b) {
    const auto ia = user_last_served_.find(a.first), ib = user_last_served_.find(b.first);
    const uint64_t la = ia == user_last_served_.end() ? 0 : ia->second;
    const uint64_t lb = ib == user_last_served_.end() ? 0 : ib->second;
    return la != lb ? la < lb : a.first < b.first;
  });
  const size_t budget = pacer_.Budget(!decode.empty());
  std::vector<std::pair<EngineJob*, size_t>> slices;
  size_t prefill_tokens = 0;
  for (size_t round = 0; prefill_tokens < budget; ++round) {
    bool any = false;
    for (auto& [user, jobs] : users) {
      if (round >= jobs.size() || prefill_tokens >= budget) continue;
      EngineJob* job = jobs[round];
      const size_t remaining = job->sliced_.active() ? job->sliced_.remaining().size()
                                                     : job->apply_->tokens.size();
      const size_t left = std::max(budget - prefill_tokens, options_.min_slice_tokens);
      const size_t n = std::min({remaining, options_.max_slice_tokens, left});
      slices.emplace_back(job, n);
      prefill_tokens += n;
      any = true;
    }
    if (!any) break;
  }

  std::vector<ChunkRequest> requests;
  std::vector<EngineJob*> stepped;
  std::vector<size_t> slice_tokens;  // per stepped job; 0: a decode item
  for (EngineJob* job : decode) {
    const ChunkProgram::Apply& apply = *job->apply_;
    requests.push_back(ChunkRequest{&job->lease, apply.tokens, apply.mode, apply.logits,
                                    SourceOf(apply), apply.rows});
    stepped.push_back(job);
    slice_tokens.push_back(0);
  }
  for (auto [job, n] : slices) {
    const ChunkProgram::Apply& apply = *job->apply_;
    if (!job->sliced_.active()) {
      absl::Status begun = store_->BeginChunk(job->lease, apply.tokens, SourceOf(apply),
                                              job->sliced_);
      if (!begun.ok()) {
        job->program->Applied(begun, absl::ZeroDuration());
        job->apply_.reset();
        prefill_tokens -= n;
        continue;
      }
    }
    ChunkRequest request{&job->lease, job->sliced_.remaining().subspan(0, n)};
    request.sliced = &job->sliced_;
    if (apply.mode == LogitsMode::kAll) {
      request.mode = LogitsMode::kAll;
      request.logits = &job->rows_;
      request.rows = apply.rows;
    } else if (n == job->sliced_.remaining().size()) {
      request.mode = apply.mode;
      request.logits = apply.logits;
    } else {
      request.mode = LogitsMode::kNone;
      request.logits = nullptr;
    }
    requests.push_back(std::move(request));
    stepped.push_back(job);
    slice_tokens.push_back(n);
  }
  if (requests.empty()) return;

  const absl::Time start = absl::Now();
  const absl::Status status = store_->ApplyBatch(absl::MakeSpan(requests));
  const absl::Duration took = absl::Now() - start;
  const double seconds = absl::ToDoubleSeconds(took);
  // A step far past its kind's usual time stalls every session in it: say
  // what it held, so an operator can tell load from a first-use cost (a
  // graph captured, a state allocated) or a fault. At most one line a minute.
  if (seconds > std::max(0.5, 20 * pacer_.decode_step_seconds()) && start - last_slow_step_log_ >
                                                                  absl::Minutes(1)) {
    last_slow_step_log_ = start;
    LOG(WARNING) << "engine step took " << absl::FormatDuration(took) << " (" << decode.size()
                 << " decode tokens, " << prefill_tokens << " input tokens in "
                 << slices.size() << " slices; usual decode step "
                 << absl::FormatDuration(absl::Seconds(std::max(pacer_.decode_step_seconds(), 0.0)))
                 << ")" << (status.ok() ? "" : absl::StrCat(": ", status.ToString()));
  }
  pacer_.Observe(!decode.empty(), prefill_tokens, seconds);
  if (metrics_ != nullptr) {
    metrics_->ObserveStep(seconds, static_cast<int64_t>(decode.size()),
                          static_cast<int64_t>(prefill_tokens));
    metrics_->batch_size->Observe(static_cast<double>(requests.size()));
  }
  for (size_t i = 0; i < stepped.size(); ++i) {
    EngineJob* job = stepped[i];
    if (!job->stepped_) {
      job->stepped_ = true;
      job->queue_time = start - job->arrival;
      if (metrics_ != nullptr) {
        metrics_->queue_wait_seconds->Observe(absl::ToDoubleSeconds(job->queue_time));
      }
    }
    // A prefill turn is a slice of max_slice_tokens: one cut short by the
    // step's budget keeps the job's place until it has had that much (or its
    // chunk is applied). Sent to the back after a few tokens, a chunk started
    // in a step with decode work waited a whole extra round (the soak's
    // p99 at twice its p50).
    job->turn_tokens_ += slice_tokens[i];
    if (slice_tokens[i] == 0 || !job->sliced_.active() ||
        job->turn_tokens_ >= options_.max_slice_tokens) {
      job->last_served_ = step_;
      job->turn_tokens_ = 0;
    }
    user_last_served_[job->user] = step_;
    job->forward_ += took;
  }
  // Each session's results (its sampled next token, its replies) touch
  // that session alone: spread over the pool, so hundreds of sessions cost
  // the engine thread a fraction of a step, not a step's worth.
  ParallelFor(static_cast<int64_t>(stepped.size()), kJobsPerTask, [&](int64_t b, int64_t e) {
    for (int64_t group = b; group < e; group += kJobsPerPost) {
      DeferredPosts batch;  // the replies' write starts: one executor task for these jobs
      for (int64_t i = group; i < std::min(e, group + kJobsPerPost); ++i) {
        EngineJob* job = stepped[static_cast<size_t>(i)];
        // A sliced chunk goes on until its last slice (or a failure) ends it.
        if (status.ok() && job->sliced_.active()) continue;
        if (status.ok()) {
          job->program->Applied(job->lease.pulse_id(), job->forward_);
        } else {
          job->program->Applied(status, job->forward_);
        }
        job->forward_ = absl::ZeroDuration();
        job->apply_ = job->program->Next();  // samples the next token
        job->next_ready_ = true;
      }
    }
  });
  if (metrics_ != nullptr) {
    metrics_->step_host_seconds->Observe(
        absl::ToDoubleSeconds((start - formed_from) + (absl::Now() - (start + took))));
  }
}

void EngineLoop::Complete(std::unique_ptr<EngineJob> job) {
  {
    absl::MutexLock lock(&mu_);
    --held_;
  }
  EngineJob* raw = job.release();
  auto finish = [raw] {
    std::unique_ptr<EngineJob> owned(raw);
    auto done = std::move(owned->done);
    done(std::move(owned));
  };
  if (!completions_->Post(finish)) finish();
}

}  // namespace hecate
