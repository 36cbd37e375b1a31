#include "server/fuzz/stream_harness.h"

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "backends/cpu/cpu_backend.h"
#include "base/parallel.h"
#include "base/status_macros.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/string_ref.h"
#include "server/stream_reactor.h"
#include "sessions/checkpoint_test_util.h"
#include "tests/test_util/raw_call.h"

namespace hecate::fuzz {
namespace {

using Reactor = grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "stream_harness: %s\n", what);
  std::abort();
}

// A deterministic choice among the things that can run next, from the
// schedule seed (splitmix64).
class Schedule {
 public:
  explicit Schedule(uint64_t seed) : state_(seed) {}
  // One of [0, n), n > 0.
  size_t Pick(size_t n) {
    if (n == 1) return 0;
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return static_cast<size_t>((z ^ (z >> 31)) % n);
  }

 private:
  uint64_t state_;
};

// What gRPC's server stream object does for a reactor, for one call from a
// client that sends `messages`, half-closes and reads every reply. The
// reactor's calls (Read, Write, Finish) only queue the reaction they are
// owed; Serve() runs them. Breaking gRPC's contract (a second read or write
// while one is outstanding, anything after Finish, Finish twice) aborts.
class DirectStream : public grpc::ServerCallbackReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  DirectStream(const std::vector<std::string>& messages, StreamHarness::Pace pace)
      : messages_(messages), pace_(pace) {}

  void Bind(Reactor* reactor) {
    reactor_ = reactor;
    BindReactor(reactor);  // replays what the constructor asked for
  }

  void SendInitialMetadata() override {
    absl::MutexLock lock(&mu_);
    if (finished_) Fail("SendInitialMetadata after Finish");
    due_.push_back(Due::kInitialMetadata);
  }
  void Read(grpc::ByteBuffer* message) override {
    absl::MutexLock lock(&mu_);
    if (finished_) Fail("Read after Finish");
    if (read_into_ != nullptr) Fail("a second Read while one is outstanding");
    read_into_ = message;
    due_.push_back(Due::kRead);
  }
  void Write(const grpc::ByteBuffer* message, grpc::WriteOptions) override {
    v1::StreamResponse response;
    if (!response.ParseFromString(testing::BufferToBytes(*message))) {
      Fail("a reply does not parse as StreamResponse");
    }
    absl::MutexLock lock(&mu_);
    if (finished_) Fail("Write after Finish");
    if (writing_) Fail("a second Write while one is outstanding");
    writing_ = true;
    replies_.push_back(std::move(response));
    due_.push_back(Due::kWrite);
  }
  void WriteAndFinish(const grpc::ByteBuffer* message, grpc::WriteOptions options,
                      grpc::Status status) override {
    Write(message, options);
    Finish(std::move(status));
  }
  void Finish(grpc::Status status) override {
    absl::MutexLock lock(&mu_);
    if (finished_) Fail("Finish twice");
    finished_ = true;
    status_ = std::move(status);
  }

  // Runs the call on this thread until OnDone has run and nothing is left
  // to run (true), or until nothing can run though OnDone has not, or
  // `deadline` passes (false: the reactor may still use this object). Each
  // turn runs one of what can run: the next reaction owed (OnDone once the
  // reactor has finished and every earlier reaction has run, as gRPC's
  // threads would), one executor task, one engine step; `schedule` picks
  // which, so an input's interleaving is the same every time it runs, and
  // work still queued when the reactor finishes may run after OnDone.
  bool Serve(Executor& executor, EngineLoop& engine, Schedule& schedule, absl::Time deadline) {
    enum Source { kReaction, kTask, kStep };
    for (uint64_t turn = 1;; ++turn) {
      if (turn % 1024 == 0 && absl::Now() > deadline) return false;
      Source ready[3];
      size_t n = 0;
      {
        absl::MutexLock lock(&mu_);
        if (!due_.empty() || (finished_ && !done_)) ready[n++] = kReaction;
      }
      if (executor.queued() > 0) ready[n++] = kTask;
      if (engine.jobs() > 0) ready[n++] = kStep;
      if (n == 0) {
        absl::MutexLock lock(&mu_);
        return done_;  // false: stuck, a reaction, task or step is missing
      }
      switch (ready[schedule.Pick(n)]) {
        case kReaction: React(); break;
        case kTask: executor.RunOne(); break;
        case kStep: engine.Poll(); break;
      }
    }
  }

  grpc::Status TakeResult(std::vector<v1::StreamResponse>* replies) {
    absl::MutexLock lock(&mu_);
    *replies = std::move(replies_);
    return status_;
  }

 private:
  enum class Due { kInitialMetadata, kRead, kWrite, kDone };

  grpc::internal::ServerReactor* reactor() override { return reactor_; }
  void CallOnDone() override {}  // Serve() calls OnDone

  // Runs the next reaction owed (one is).
  void React() {
    Due due;
    grpc::ByteBuffer* read_into = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (due_.empty()) {  // finished, every earlier reaction has run
        done_ = true;
        due = Due::kDone;
      } else {
        auto next = due_.begin();
        if (pace_ == StreamHarness::Pace::kSlowReader) {
          for (auto it = due_.begin(); it != due_.end(); ++it) {
            if (*it != Due::kWrite) {
              next = it;
              break;
            }
          }
        }
        due = *next;
        due_.erase(next);
        if (due == Due::kRead) std::swap(read_into, read_into_);
        if (due == Due::kWrite) writing_ = false;
      }
    }
    switch (due) {
      case Due::kInitialMetadata: reactor_->OnSendInitialMetadataDone(true); break;
      case Due::kWrite: reactor_->OnWriteDone(true); break;
      case Due::kRead:
        if (next_message_ < messages_.size()) {
          *read_into = testing::BytesToBuffer(messages_[next_message_++]);
          reactor_->OnReadDone(true);
        } else {
          reactor_->OnReadDone(false);  // the client half-closed
        }
        break;
      case Due::kDone: reactor_->OnDone(); break;  // deletes the reactor
    }
  }

  const std::vector<std::string>& messages_;
  const StreamHarness::Pace pace_;
  Reactor* reactor_ = nullptr;
  size_t next_message_ = 0;
  // The reactor calls in only from Serve's thread; the lock keeps the
  // contract checks honest should that change.
  absl::Mutex mu_;
  std::deque<Due> due_ ABSL_GUARDED_BY(mu_);  // reactions owed, in order
  grpc::ByteBuffer* read_into_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;  // OnDone has run
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::StreamResponse> replies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<StreamHarness>> StreamHarness::Start(const Options& options) {
  std::unique_ptr<StreamHarness> h(new StreamHarness());
  // One thread: the CPU backend's ParallelFor (attention heads, GEMM column
  // blocks) handed every layer of every step to the pool and back.
  RunParallelForInline();
  h->options_ = options;
  // Batches one item after another: the same results bit for bit, without
  // the CPU pool's threads (for a micro model they only add hand-offs).
  CpuBackendOptions cpu;
  cpu.batch_parallelism = 1;
  h->backend_ = MakeCpuBackend(testing::MicroModel(options.model_seed), cpu);
  HECATE_ASSIGN_OR_RETURN(h->keys_, ApiKeys::FromText(absl::StrCat(kUser, ":", kKey, "\n")));
  metrics::ServerMetricsOptions metric_options;
  metric_options.backend = h->backend_->name();
  HECATE_ASSIGN_OR_RETURN(h->metrics_, metrics::ServerMetrics::Create(&h->registry_, metric_options));
  SessionStoreOptions store_options;  // no state directory: nothing on disk
  store_options.host_tier = false;
  HECATE_ASSIGN_OR_RETURN(h->store_, SessionStore::Open(*h->backend_, store_options));
  // No threads: Run() drives the executor and the engine itself.
  h->executor_ = std::make_unique<Executor>(Executor::kManual);
  EngineLoop::Options engine = options.engine;
  engine.driven = true;
  h->engine_ = std::make_unique<EngineLoop>(h->store_.get(), h->executor_.get(), engine,
                                            h->metrics_.get());
  h->context_.engine = h->engine_.get();
  h->context_.store = h->store_.get();
  h->context_.executor = h->executor_.get();
  // As hecated on a GPU: the interleaving with writes started elsewhere is
  // the one with more to get wrong.
  h->context_.start_writes_on_executor = true;
  h->context_.keys = h->keys_.get();
  h->context_.metrics = h->metrics_.get();
  h->context_.limits = options.limits;
  return h;
}

StreamHarness::~StreamHarness() {
  if (engine_ != nullptr) engine_->Shutdown();
  if (executor_ != nullptr) executor_->Shutdown();
}

std::string StreamHarness::NewSession() {
  absl::StatusOr<SessionInfo> info = store_->Create(kUser);
  if (!info.ok()) {
    std::fprintf(stderr, "stream_harness: %s\n", info.status().ToString().c_str());
    std::abort();
  }
  return info->id;
}

StreamRun StreamHarness::Run(const std::vector<std::string>& messages, Auth auth, Pace pace,
                             uint64_t schedule_seed) {
  const std::string bearer = absl::StrCat("Bearer ", kKey);
  const std::string unknown = "Bearer not-a-key-0123456789";
  std::multimap<grpc::string_ref, grpc::string_ref> metadata;
  switch (auth) {
    case Auth::kValid: metadata.emplace("authorization", bearer); break;
    case Auth::kMissing: break;
    case Auth::kUnknownKey: metadata.emplace("authorization", unknown); break;
    case Auth::kTwoValues:
      metadata.emplace("authorization", bearer);
      metadata.emplace("authorization", bearer);
      break;
  }
  auto stream = std::make_unique<DirectStream>(messages, pace);
  stream->Bind(new StreamReactor(&context_, context_.Authenticate(metadata)));
  StreamRun run;
  Schedule schedule(schedule_seed);
  if (!stream->Serve(*executor_, *engine_, schedule, absl::Now() + options_.deadline)) {
    // The reactor still holds the stream: leave both be (the caller fails).
    static_cast<void>(stream.release());
    run.code = grpc::StatusCode::DEADLINE_EXCEEDED;
    run.message =
        "the call neither finished nor had anything left to run, or ran past its deadline";
    run.deadline_exceeded = true;
    return run;
  }
  const grpc::Status status = stream->TakeResult(&run.replies);
  run.code = status.error_code();
  run.message = status.error_message();
  return run;
}

}  // namespace hecate::fuzz
