#include "server/hecate_server.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace hecate {
namespace {

constexpr const char* kTiers[kResidencyTiers] = {metrics::kTierDevice, metrics::kTierHost,
                                                 metrics::kTierDisk};

bool IsLoopback(absl::string_view host_port) {
  return absl::StartsWith(host_port, "127.") || absl::StartsWith(host_port, "localhost:") ||
         absl::StartsWith(host_port, "[::1]:");
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "ok", or the failure reason label of a restore.
const char* RestoreResult(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return "ok";
    case absl::StatusCode::kDataLoss: return "data_loss";
    case absl::StatusCode::kFailedPrecondition: return "failed_precondition";
    case absl::StatusCode::kInvalidArgument: return "invalid_argument";
    case absl::StatusCode::kNotFound: return "not_found";
    default: return "other";
  }
}

v1::ModelInfo DescribeModel(const Backend& backend) {
  const ModelConfig& c = backend.model().config();
  v1::ModelInfo info;
  info.set_model_type("hecate");
  info.set_vocab_size(c.vocab_size);
  info.set_d_model(c.d_model);
  info.set_n_layers(c.n_layers);
  info.set_n_heads(c.n_heads);
  info.set_window(c.window);
  for (int p : c.periods) info.add_periods(p);
  info.set_d_ff(c.d_ff);
  info.set_fingerprint(backend.model().fingerprint());
  info.set_backend(backend.name());
  info.set_tf32(backend.tf32());
  info.set_state_bytes_per_session(static_cast<int64_t>(StateLayout(c).total_bytes()));
  return info;
}

}  // namespace

HecateServer::HecateServer(const ServerOptions& options, std::unique_ptr<Backend> backend,
                           std::unique_ptr<ApiKeys> keys)
    : options_(options),
      backend_(std::move(backend)),
      keys_(std::move(keys)),
      registry_(prometheus::Registry::InsertBehavior::Throw) {}

absl::StatusOr<std::unique_ptr<HecateServer>> HecateServer::Start(
    const ServerOptions& options, std::unique_ptr<Backend> backend,
    std::unique_ptr<ApiKeys> keys) {
  if (!keys->enabled() && !IsLoopback(options.listen)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--listen=", options.listen, " is not loopback: give --api_keys to serve other hosts"));
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  std::unique_ptr<HecateServer> server(
      new HecateServer(options, std::move(backend), std::move(keys)));
  if (absl::Status s = server->Init(); !s.ok()) return s;
  return server;
}

absl::Status HecateServer::Init() {
  metrics::ServerMetricsOptions metric_options;
  metric_options.version = options_.version;
  metric_options.backend = backend_->name();
  absl::StatusOr<std::unique_ptr<metrics::ServerMetrics>> metrics =
      metrics::ServerMetrics::Create(&registry_, metric_options);
  if (!metrics.ok()) return metrics.status();
  metrics_ = *std::move(metrics);
  http_ = std::make_unique<http::HttpServer>(metrics_->Collectables(), [this]() -> absl::Status {
    if (context_.draining.load()) return absl::UnavailableError("draining");
    return absl::OkStatus();
  });

  SessionStoreOptions store_options = options_.store;
  metrics::ServerMetrics* m = metrics_.get();
  store_options.on_checkpoint = [m](const CheckpointEvent& event) {
    const bool restore =
        event.kind == CheckpointEvent::Kind::kRestore || event.kind == CheckpointEvent::Kind::kReload;
    if (event.kind == CheckpointEvent::Kind::kRestore) m->CountRestore(RestoreResult(event.code));
    if (event.code == absl::StatusCode::kOk) {
      m->ObserveCheckpoint(restore ? "restore" : "save", absl::ToDoubleSeconds(event.duration),
                           static_cast<double>(event.bytes));
    }
  };
  absl::StatusOr<std::unique_ptr<SessionStore>> store =
      SessionStore::Open(*backend_, std::move(store_options));
  if (!store.ok()) return store.status();
  store_ = *std::move(store);
  if (!options_.store.state_dir.empty()) {
    absl::StatusOr<LoadReport> loaded = store_->LoadFromStateDir();
    if (!loaded.ok()) return loaded.status();
    LOG(INFO) << "state dir " << options_.store.state_dir << ": " << loaded->loaded
              << " sessions found";
    for (const std::string& error : loaded->errors) LOG(WARNING) << "state dir: " << error;
  }
  for (int tier = 0; tier < kResidencyTiers; ++tier) {
    SessionStore* s = store_.get();
    metrics_->sessions->SetCallback({kTiers[tier]}, [s, tier] {
      return static_cast<double>(s->Stats().sessions_by_tier[tier]);
    });
    metrics_->state_bytes->SetCallback({kTiers[tier]}, [s, tier] {
      return static_cast<double>(s->Stats().bytes_by_tier[tier]);
    });
  }

  const int threads = options_.worker_threads > 0
                          ? options_.worker_threads
                          : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  executor_ = std::make_unique<Executor>(threads);
  if (options_.batching) {
    batcher_ = std::make_unique<StepBatcher>(store_.get(), options_.batch, [m](int size) {
      m->batch_size->Observe(size);
    });
  }
  context_.batcher = batcher_.get();
  context_.store = store_.get();
  context_.executor = executor_.get();
  context_.keys = keys_.get();
  context_.metrics = metrics_.get();
  context_.limits = options_.limits;
  context_.model_info = DescribeModel(*backend_);
  service_ = std::make_unique<HecateService>(&context_);

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options_.tls_cert.empty()) {
    absl::StatusOr<std::string> cert = ReadText(options_.tls_cert);
    absl::StatusOr<std::string> key = ReadText(options_.tls_key);
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, credentials, &grpc_port_);
  builder.RegisterService(service_.get());
  // A checkpoint travels in one message: room for the state plus headroom.
  const int64_t message_limit =
      std::max<int64_t>(int64_t{64} << 20, 2 * context_.model_info.state_bytes_per_session() +
                                               options_.limits.max_chunk_bytes + (1 << 20));
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(message_limit, INT32_MAX)));
  builder.SetMaxSendMessageSize(static_cast<int>(std::min<int64_t>(message_limit, INT32_MAX)));
  grpc_ = builder.BuildAndStart();
  if (grpc_ == nullptr || grpc_port_ == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", options_.listen, " (address in use or invalid?)"));
  }
  grpc_->GetHealthCheckService()->SetServingStatus(true);
  if (absl::Status s = http_->Start(options_.metrics_listen); !s.ok()) {
    grpc_->Shutdown();
    return s;
  }
  stats_thread_ = std::thread([this] {
    while (!stop_stats_.WaitForNotificationWithTimeout(absl::Seconds(1))) SyncStoreStats();
  });
  LOG(INFO) << "hecated serving " << context_.model_info.backend() << " model "
            << backend_->model().config().Summary() << " fingerprint "
            << backend_->model().fingerprint().substr(0, 16) << " on " << options_.listen
            << " (port " << grpc_port_ << "), metrics on " << options_.metrics_listen
            << " (port " << http_->port() << "), auth "
            << (keys_->enabled() ? "on" : "OFF (loopback only)")
            << (options_.tls_cert.empty() ? "" : ", TLS on")
            << (options_.batching ? ", continuous batching on" : "");
  return absl::OkStatus();
}

void HecateServer::SyncStoreStats() {
  const SessionStoreStats now = store_->Stats();
  auto add = [&](uint64_t current, uint64_t& seen, const char* from, const char* to) {
    for (; seen < current; ++seen) metrics_->CountEviction(from, to);
  };
  add(now.evictions_device_to_host, synced_.evictions_device_to_host, metrics::kTierDevice,
      metrics::kTierHost);
  add(now.evictions_device_to_disk, synced_.evictions_device_to_disk, metrics::kTierDevice,
      metrics::kTierDisk);
  add(now.evictions_host_to_disk, synced_.evictions_host_to_disk, metrics::kTierHost,
      metrics::kTierDisk);
}

absl::Status HecateServer::Drain() {
  if (drained_.exchange(true)) return absl::OkStatus();
  LOG(INFO) << "draining: readiness off, new calls get UNAVAILABLE";
  context_.draining.store(true);
  grpc_->GetHealthCheckService()->SetServingStatus(false);
  const absl::Time deadline = absl::Now() + options_.drain_timeout;
  while (context_.busy_requests.load() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  if (context_.busy_requests.load() > 0) {
    LOG(WARNING) << context_.busy_requests.load()
                 << " requests still running at --drain_timeout; cancelling them";
  }
  // Cancels what is still open (idle streams, requests past the timeout).
  grpc_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  executor_->Shutdown();
  absl::Status result = absl::OkStatus();
  if (!options_.store.state_dir.empty()) {
    absl::StatusOr<DrainReport> report = store_->CheckpointAll();
    if (!report.ok()) {
      result = report.status();
    } else {
      LOG(INFO) << "drain: " << report->written << " sessions checkpointed, "
                << report->already_on_disk << " already on disk";
      for (const std::string& error : report->errors) LOG(ERROR) << "drain: " << error;
      if (!report->errors.empty()) {
        result = absl::InternalError(absl::StrCat(report->errors.size(), " sessions not saved"));
      }
    }
  }
  stop_stats_.Notify();
  if (stats_thread_.joinable()) stats_thread_.join();
  SyncStoreStats();
  http_->Stop();
  return result;
}

HecateServer::~HecateServer() {
  if (!drained_.load() && grpc_ != nullptr) {
    grpc_->Shutdown(std::chrono::system_clock::now());
    executor_->Shutdown();
  }
  if (!stop_stats_.HasBeenNotified()) stop_stats_.Notify();
  if (stats_thread_.joinable()) stats_thread_.join();
  if (http_ != nullptr) http_->Stop();
  for (int tier = 0; tier < kResidencyTiers && metrics_ && store_; ++tier) {
    metrics_->sessions->ClearCallback({kTiers[tier]});
    metrics_->state_bytes->ClearCallback({kTiers[tier]});
  }
}

}  // namespace hecate
