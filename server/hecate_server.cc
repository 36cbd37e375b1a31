#include "server/hecate_server.h"

#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace hecate {
namespace {

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
  info.set_gemm(std::string(GemmModeName(backend.gemm_mode())));
  info.set_weight_format(std::string(WeightFormatName(backend.weight_format())));
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
  HECATE_RETURN_IF_ERROR(server->Init());
  return server;
}

absl::Status HecateServer::Init() {
  metrics::ServerMetricsOptions metric_options;
  metric_options.version = options_.version;
  metric_options.backend = backend_->name();
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<metrics::ServerMetrics> metrics,
                          metrics::ServerMetrics::Create(&registry_, metric_options));
  metrics_ = std::move(metrics);
  http_ = std::make_unique<http::HttpServer>(metrics_->Collectables(), [this]() -> absl::Status {
    if (context_.draining.load()) return absl::UnavailableError("draining");
    return absl::OkStatus();
  });

  // The store reports tiers, evictions and checkpoints to the metrics itself.
  store_metrics_ = std::make_unique<metrics::StoreMetrics>(metrics_.get());
  SessionStoreOptions store_options = options_.store;
  store_options.observer = store_metrics_.get();
  metrics::ServerMetrics* m = metrics_.get();
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<SessionStore> store,
                          SessionStore::Open(*backend_, std::move(store_options)));
  store_ = std::move(store);
  if (!options_.store.state_dir.empty()) {
    HECATE_ASSIGN_OR_RETURN(LoadReport loaded, store_->LoadFromStateDir());
    LOG(INFO) << "state dir " << options_.store.state_dir << ": " << loaded.loaded
              << " sessions found";
    for (const std::string& error : loaded.errors) LOG(WARNING) << "state dir: " << error;
    LOG(INFO) << "named checkpoints: quota " << store_->checkpoint_quota_bytes_per_user()
              << " bytes per user, " << store_->reserved_state_bytes()
              << " bytes of disk reserved for session files";
    for (const auto& [user, bytes] : loaded.checkpoint_usage) {
      const bool over = bytes > store_->checkpoint_quota_bytes_per_user();
      LOG_IF(INFO, !over) << "named checkpoints: user " << user << " stores " << bytes
                          << " bytes";
      LOG_IF(WARNING, over) << "named checkpoints: user " << user << " stores " << bytes
                            << " bytes, over the quota: further stores are refused until "
                               "some are deleted";
    }
  }

  if (!options_.shared.replica_id.empty()) {
    HECATE_ASSIGN_OR_RETURN(shared_, SharedSessions::Open(store_.get(), options_.shared));
    shared_->ClaimLocalSessions();
    shared_->Start();
    LOG(INFO) << "replica " << options_.shared.replica_id << ": sessions shared in "
              << options_.shared.root << " (checkpoint every "
              << absl::FormatDuration(options_.shared.checkpoint_interval) << ", lease "
              << absl::FormatDuration(options_.shared.lease_duration) << ")";
  }

  // With keys, the sweeper runs even without --session_ttl: a user's
  // session_ttl may be in the key file now or after a reload (SIGHUP).
  if (options_.session_ttl > absl::ZeroDuration() || keys_->enabled()) {
    SharedSessions* shared = shared_.get();
    const ApiKeys* keys = keys_.get();
    ExpiryPolicy policy;
    policy.default_ttl = options_.session_ttl;
    if (keys->enabled()) {
      policy.ttl_for_owner = [keys](absl::string_view user) { return keys->SessionTtl(user); };
      policy.shortest_owner_ttl = [keys] { return keys->ShortestSessionTtl(); };
    }
    expiry_ = std::make_unique<ExpirySweeper>(
        store_.get(), std::move(policy), [shared](const ExpiryReport& report) {
          for (const auto& [id, owner] : report.expired) {
            if (shared != nullptr) shared->Forget(id, owner);
          }
          LOG_IF(INFO, report.deleted + report.kept > 0)
              << "expiry: " << report.deleted << " sessions deleted, " << report.kept
              << " stored by name and deleted";
          for (const std::string& error : report.errors) LOG(WARNING) << "expiry: " << error;
        });
    expiry_->Start();
    LOG_IF(INFO, options_.session_ttl > absl::ZeroDuration())
        << "sessions idle for " << absl::FormatDuration(options_.session_ttl) << " expire";
    if (std::optional<absl::Duration> shortest = keys->ShortestSessionTtl()) {
      LOG(INFO) << "per-user session_ttl in the key file, the shortest "
                << absl::FormatDuration(*shortest);
    }
  }

  const int threads = options_.worker_threads > 0
                          ? options_.worker_threads
                          : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  executor_ = std::make_unique<Executor>(threads);
  EngineLoop::Options engine = options_.engine;
  if (engine.max_slice_tokens == 0) {
    engine.max_slice_tokens = static_cast<size_t>(backend_->max_step_tokens());
  }
  engine_ = std::make_unique<EngineLoop>(store_.get(), executor_.get(), engine, m);
  context_.engine = engine_.get();
  context_.store = store_.get();
  context_.shared = shared_.get();
  context_.executor = executor_.get();
  context_.keys = keys_.get();
  context_.metrics = metrics_.get();
  context_.limits = options_.limits;
  context_.model_info = DescribeModel(*backend_);
  // On the CPU backend the forward pass runs on the same cores as gRPC, so
  // handing each reply's write start to the executor only adds a thread's
  // wake and switch per post (decode at 64 tiny sessions on two cores:
  // served/engine 0.858-0.867 with the hop, 0.888-0.901 without, two
  // interleaved pairs of three rounds). With a GPU the host's cores are
  // otherwise idle during the step and the hop keeps gRPC off the engine's
  // path.
  context_.start_writes_on_executor = backend_->name() != "cpu";
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
  // hecate.v1 and health run on the callback API (no thread per call), but
  // server reflection is a sync-API service: gRPC gives every open
  // reflection stream a thread of its own, so a client holding streams open
  // could make threads without bound (issue 13, item 8). Past this cap a new
  // sync call gets RESOURCE_EXHAUSTED ("Server Threadpool Exhausted").
  grpc::ResourceQuota sync_threads("hecated-sync-threads");
  sync_threads.SetMaxThreads(options_.max_sync_threads);
  builder.SetResourceQuota(sync_threads);
  // A checkpoint travels in one message: room for the state and its
  // transcript (up to --max_journal_bytes) plus headroom.
  const int64_t message_limit = std::max<int64_t>(
      int64_t{64} << 20, 2 * context_.model_info.state_bytes_per_session() +
                             static_cast<int64_t>(options_.store.max_journal_bytes) +
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
  LOG(INFO) << "hecated serving " << context_.model_info.backend() << " (gemm "
            << context_.model_info.gemm() << ", weights "
            << context_.model_info.weight_format() << ") model "
            << backend_->model().config().Summary() << " fingerprint "
            << backend_->model().fingerprint().substr(0, 16) << " on " << options_.listen
            << " (port " << grpc_port_ << "), metrics on " << options_.metrics_listen
            << " (port " << http_->port() << "), auth "
            << (keys_->enabled() ? "on" : "OFF (loopback only)")
            << (options_.tls_cert.empty() ? "" : ", TLS on") << ", engine slices of "
            << backend_->max_step_tokens() << " tokens";
  return absl::OkStatus();
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
  engine_->Shutdown();  // rolls back what is still mid-chunk
  executor_->Shutdown();
  if (expiry_ != nullptr) expiry_->Stop();  // drain saves every session, none expires
  if (shared_ != nullptr) shared_->Stop();  // no checkpoint writes during the drain
  absl::Status result = absl::OkStatus();
  if (!options_.store.state_dir.empty()) {
    absl::StatusOr<DrainReport> report = store_->CheckpointAll();
    if (!report.ok()) {
      result = report.status();
    } else {
      LOG(INFO) << "drain: " << report->written << " sessions checkpointed, "
                << report->already_on_disk << " already on disk, " << report->unsaved.size()
                << " NOT saved";
      for (const std::string& error : report->errors) LOG(ERROR) << "drain: " << error;
      if (!report->unsaved.empty()) {
        std::string ids;
        for (const UnsavedSession& u : report->unsaved) {
          absl::StrAppend(&ids, ids.empty() ? "" : " ", u.owner, "/", u.id);
        }
        LOG(ERROR) << "drain: sessions lost at exit (user/id): " << ids;
        result = absl::InternalError(
            absl::StrCat(report->unsaved.size(), " sessions not saved: ", ids));
      }
    }
  }
  if (shared_ != nullptr && result.ok()) {
    // Every drained session into the shared store, every lease released:
    // the other replicas adopt them with nothing lost.
    absl::StatusOr<int> published = shared_->PublishDrained();
    if (published.ok()) {
      LOG(INFO) << "drain: " << *published << " sessions published to " << options_.shared.root;
    } else {
      LOG(ERROR) << "drain: " << published.status();
      result = published.status();
    }
  }
  http_->Stop();
  return result;
}

HecateServer::~HecateServer() {
  if (!drained_.load() && grpc_ != nullptr) {
    grpc_->Shutdown(std::chrono::system_clock::now());
    engine_->Shutdown();
    executor_->Shutdown();
  }
  if (http_ != nullptr) http_->Stop();
}

}  // namespace hecate
