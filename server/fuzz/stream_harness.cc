#include "server/fuzz/stream_harness.h"

#include <cstdlib>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "backends/cpu/cpu_backend.h"
#include "base/status_macros.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/support/client_callback.h"
#include "sessions/checkpoint_test_util.h"
#include "tests/test_util/raw_call.h"

namespace hecate::fuzz {
namespace {

// The client side of one Stream: writes `messages` one after another, then
// half-closes; reads until the server ends the call. Reads and writes are
// independent, as a client must do for the server's backpressure to hold.
class Caller : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit Caller(const std::vector<std::string>& messages) : messages_(messages) {}

  void Begin() {
    StartRead(&incoming_);
    WriteNext();
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {  // the server ended the call: nothing more goes out
      StartWritesDone();
      return;
    }
    WriteNext();
  }
  void OnWritesDoneDone(bool) override {}

  void OnReadDone(bool ok) override {
    if (!ok) return;
    v1::StreamResponse response;
    if (!response.ParseFromString(testing::BufferToBytes(incoming_))) {
      std::fprintf(stderr, "stream_harness: a reply does not parse as StreamResponse\n");
      std::abort();
    }
    {
      absl::MutexLock lock(&mu_);
      replies_.push_back(std::move(response));
    }
    StartRead(&incoming_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  grpc::Status Await(std::vector<v1::StreamResponse>* replies) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    *replies = std::move(replies_);
    return status_;
  }

 private:
  void WriteNext() {
    if (next_ == messages_.size()) {
      StartWritesDone();
      return;
    }
    outgoing_ = testing::BytesToBuffer(messages_[next_++]);
    StartWrite(&outgoing_);
  }

  const std::vector<std::string>& messages_;
  size_t next_ = 0;
  grpc::ByteBuffer outgoing_;
  grpc::ByteBuffer incoming_;
  absl::Mutex mu_;
  std::vector<v1::StreamResponse> replies_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StreamHarness>> StreamHarness::Start(const Options& options) {
  std::unique_ptr<StreamHarness> h(new StreamHarness());
  h->options_ = options;
  h->backend_ = MakeCpuBackend(testing::MicroModel(options.model_seed));
  HECATE_ASSIGN_OR_RETURN(h->keys_, ApiKeys::FromText(absl::StrCat(kUser, ":", kKey, "\n")));
  metrics::ServerMetricsOptions metric_options;
  metric_options.backend = h->backend_->name();
  HECATE_ASSIGN_OR_RETURN(h->metrics_, metrics::ServerMetrics::Create(&h->registry_, metric_options));
  SessionStoreOptions store_options;  // no state directory: nothing on disk
  store_options.host_tier = false;
  HECATE_ASSIGN_OR_RETURN(h->store_, SessionStore::Open(*h->backend_, store_options));
  h->executor_ = std::make_unique<Executor>(options.worker_threads);
  h->context_.store = h->store_.get();
  h->context_.executor = h->executor_.get();
  h->context_.keys = h->keys_.get();
  h->context_.metrics = h->metrics_.get();
  h->context_.limits = options.limits;
  h->service_ = std::make_unique<HecateService>(&h->context_);
  grpc::ServerBuilder builder;
  builder.RegisterService(h->service_.get());
  h->server_ = builder.BuildAndStart();
  if (h->server_ == nullptr) return absl::InternalError("in-process gRPC server did not start");
  h->channel_ = h->server_->InProcessChannel(grpc::ChannelArguments());
  return h;
}

StreamHarness::~StreamHarness() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
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

StreamRun StreamHarness::Run(const std::vector<std::string>& messages, Auth auth) {
  grpc::GenericStub stub(channel_);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::microseconds(absl::ToInt64Microseconds(options_.deadline)));
  const std::string bearer = absl::StrCat("Bearer ", kKey);
  switch (auth) {
    case Auth::kValid: call.AddMetadata("authorization", bearer); break;
    case Auth::kMissing: break;
    case Auth::kUnknownKey: call.AddMetadata("authorization", "Bearer not-a-key-0123456789"); break;
    case Auth::kTwoValues:
      call.AddMetadata("authorization", bearer);
      call.AddMetadata("authorization", bearer);
      break;
  }
  Caller caller(messages);
  stub.PrepareBidiStreamingCall(&call, "/hecate.v1.Hecate/Stream", grpc::StubOptions(), &caller);
  caller.Begin();
  StreamRun run;
  const grpc::Status status = caller.Await(&run.replies);
  run.code = status.error_code();
  run.message = status.error_message();
  run.deadline_exceeded = run.code == grpc::StatusCode::DEADLINE_EXCEEDED;
  return run;
}

}  // namespace hecate::fuzz
