#include "server/fuzz/stream_harness.h"

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "backends/cpu/cpu_backend.h"
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

// What gRPC's server stream object does for a reactor, for one call from a
// client that sends `messages`, half-closes and reads every reply. The
// reactor's calls (Read, Write, Finish) only queue the reaction they are
// owed; Serve() runs the reactions on its own thread. Breaking gRPC's
// contract (a second read or write while one is outstanding, anything after
// Finish, Finish twice) aborts.
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

  // Runs the reactions as they fall due until OnDone has run (true) or
  // `deadline` passes (false: the reactor may still use this object).
  bool Serve(absl::Time deadline) {
    mu_.Lock();
    while (true) {
      const bool ready = mu_.AwaitWithDeadline(
          absl::Condition(
              +[](DirectStream* s) { return !s->due_.empty() || s->finished_; }, this),
          deadline);
      if (!ready) {
        mu_.Unlock();
        return false;
      }
      if (due_.empty()) {  // finished, every earlier reaction has run
        mu_.Unlock();
        reactor_->OnDone();  // deletes the reactor
        return true;
      }
      auto next = due_.begin();
      if (pace_ == StreamHarness::Pace::kSlowReader) {
        for (auto it = due_.begin(); it != due_.end(); ++it) {
          if (*it != Due::kWrite) {
            next = it;
            break;
          }
        }
      }
      const Due due = *next;
      due_.erase(next);
      grpc::ByteBuffer* read_into = nullptr;
      if (due == Due::kRead) std::swap(read_into, read_into_);
      if (due == Due::kWrite) writing_ = false;
      mu_.Unlock();
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
      }
      mu_.Lock();
    }
  }

  grpc::Status TakeResult(std::vector<v1::StreamResponse>* replies) {
    absl::MutexLock lock(&mu_);
    *replies = std::move(replies_);
    return status_;
  }

 private:
  enum class Due { kInitialMetadata, kRead, kWrite };

  grpc::internal::ServerReactor* reactor() override { return reactor_; }
  void CallOnDone() override {}  // Serve() calls OnDone

  const std::vector<std::string>& messages_;
  const StreamHarness::Pace pace_;
  Reactor* reactor_ = nullptr;
  size_t next_message_ = 0;  // only Serve's thread
  absl::Mutex mu_;
  std::deque<Due> due_ ABSL_GUARDED_BY(mu_);  // reactions owed, in order
  grpc::ByteBuffer* read_into_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::StreamResponse> replies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<StreamHarness>> StreamHarness::Start(const Options& options) {
  std::unique_ptr<StreamHarness> h(new StreamHarness());
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
  h->executor_ = std::make_unique<Executor>(options.worker_threads);
  h->engine_ = std::make_unique<EngineLoop>(h->store_.get(), h->executor_.get(), options.engine,
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

void StreamHarness::Quiesce() {
  // One task per worker, each waiting until all have started: then every
  // worker has finished (and destroyed) whatever it took before. The tasks
  // hold only `this` and the counters are members, so no worker allocates
  // or frees anything of this call after it returns.
  {
    absl::MutexLock lock(&quiesce_mu_);
    quiesce_started_ = 0;
    quiesce_finished_ = 0;
  }
  for (int i = 0; i < executor_->threads(); ++i) {
    const bool posted = executor_->Post([this] {
      absl::MutexLock lock(&quiesce_mu_);
      ++quiesce_started_;
      quiesce_mu_.Await(absl::Condition(this, &StreamHarness::AllWorkersWaiting));
      ++quiesce_finished_;
    });
    if (!posted) Fail("the executor stopped");
  }
  absl::MutexLock lock(&quiesce_mu_);
  quiesce_mu_.Await(absl::Condition(this, &StreamHarness::AllWorkersPassed));
}

bool StreamHarness::AllWorkersWaiting() const {
  return quiesce_started_ == executor_->threads();
}

bool StreamHarness::AllWorkersPassed() const {
  return quiesce_finished_ == executor_->threads();
}

std::string StreamHarness::NewSession() {
  absl::StatusOr<SessionInfo> info = store_->Create(kUser);
  if (!info.ok()) {
    std::fprintf(stderr, "stream_harness: %s\n", info.status().ToString().c_str());
    std::abort();
  }
  return info->id;
}

StreamRun StreamHarness::Run(const std::vector<std::string>& messages, Auth auth, Pace pace) {
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
  if (!stream->Serve(absl::Now() + options_.deadline)) {
    // The reactor still holds the stream: leave both be (the caller fails).
    static_cast<void>(stream.release());
    run.code = grpc::StatusCode::DEADLINE_EXCEEDED;
    run.deadline_exceeded = true;
    return run;
  }
  Quiesce();
  const grpc::Status status = stream->TakeResult(&run.replies);
  run.code = status.error_code();
  run.message = status.error_message();
  return run;
}

}  // namespace hecate::fuzz
