// hecated: parses flags, loads the model, picks the backend and starts
// HecateServer; SIGTERM/SIGINT drain it, SIGHUP reloads the API key file.
#include <algorithm>
#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_backend.h"
#include "glog/logging.h"
#include "runtime/model.h"
#include "runtime/model_state.h"
#include "server/hecate_server.h"
#include "server/memory_budget.h"
#include "sessions/checkpoint_format.h"
#include "sessions/checkpoint_key.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC address HOST:PORT (port 0: any free port)");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9464",
          "HTTP address for /metrics, /healthz and /readyz");
// The trained default ships in the repository; `./hecate serve` runs hecated
// from the repository root, where this relative path resolves.
constexpr char kDefaultModel[] = "models/tiny-shakespeare";
ABSL_FLAG(std::string, model, kDefaultModel,
          "model folder (config.json + model.safetensors) or random:PRESET (tiny, base; "
          "untrained weights from --seed)");
ABSL_FLAG(uint64_t, seed, 1, "seed of a random:PRESET model");
ABSL_FLAG(std::string, backend, "auto", "auto (CUDA when a GPU is present, else CPU), cpu or cuda");
ABSL_FLAG(std::string, gemm, "fp32",
          "CUDA projections: fp32, tf32 (tensor cores; looser tolerance, flagged in ModelInfo) "
          "or 3xtf32 (tensor cores on TF32 hi/lo splits: fp32-level accuracy; the weight "
          "matrices' splits take twice their bytes more device memory)");
ABSL_FLAG(std::string, weights, "fp32",
          "CUDA weight matrices: fp32, or bf16 (stored as bf16, half the bytes; sums and state "
          "stay fp32; looser tolerance, flagged in ModelInfo); combines with --gemm");
ABSL_FLAG(std::string, state_dir, "hecate-state",
          "directory for checkpoints, offloaded and drained sessions");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "directory for checkpoints stored by name, if not under --state_dir: shared "
          "storage lets every replica restore them");
ABSL_FLAG(int64_t, checkpoint_quota_bytes_per_user, int64_t{256} << 20,
          "bytes of checkpoints one user may store by name (ExportCheckpoint with a name); "
          "ListCheckpoints shows them, DeleteCheckpoint frees them");
ABSL_FLAG(int64_t, reserved_state_bytes, -1,
          "free bytes on --state_dir's filesystem that checkpoints stored by name must leave "
          "for offloaded and drained sessions (-1: room for --max_sessions session files)");
ABSL_FLAG(std::string, checkpoint_key_file, "",
          "key that signs every checkpoint (HMAC-SHA256) and that every restore must verify: "
          "a file of >= 32 raw bytes or >= 64 hex digits, not readable by other users; give "
          "every replica the same file. Without it checkpoints are unsigned and a restore "
          "proves integrity (CRCs), not origin");
ABSL_FLAG(bool, allow_unsigned_checkpoints, false,
          "with --checkpoint_key_file: also restore unsigned checkpoints (e.g. sessions drained "
          "before the key was set); signed ones must still verify");
ABSL_FLAG(std::string, replica_id, "",
          "this replica's name (e.g. the pod name), unique among replicas sharing "
          "--checkpoint_dir: sessions are then written to <checkpoint_dir>/replicas and any "
          "replica adopts a session it does not hold (deploy/README.md, Several machines)");
ABSL_FLAG(absl::Duration, checkpoint_interval, absl::Seconds(10),
          "with --replica_id: how often sessions that changed are written to the shared store "
          "(a crash loses at most this much input)");
ABSL_FLAG(absl::Duration, session_lease, absl::Seconds(30),
          "with --replica_id: how long a replica's claim on a session lasts without renewal "
          "(renewed every third of it); a crashed replica's sessions are adoptable after it");
ABSL_FLAG(std::string, api_keys, "",
          "file of user:key lines; without it auth is off and only loopback is served");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain for TLS on the gRPC port");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for TLS on the gRPC port");
ABSL_FLAG(std::string, port_file, "",
          "write the bound ports here, gRPC on line 1 and HTTP on line 2 (for tests)");
ABSL_FLAG(int64_t, max_chunk_bytes, 1 << 20, "largest input chunk or prompt, in bytes");
ABSL_FLAG(int32_t, max_generate_tokens, 4096, "largest max_tokens of a continuation");
ABSL_FLAG(int64_t, max_journal_bytes, int64_t{64} << 20,
          "transcript bytes kept per session (ReadTranscript; older bytes are dropped, the "
          "digest still covers them); travels in checkpoints and session files");
ABSL_FLAG(int64_t, snapshot_interval, 4096,
          "pulses between a session's rewind snapshots (RewindSession, ForkSession at_pulse)");
ABSL_FLAG(int64_t, max_snapshot_bytes_per_session, -1,
          "host bytes of rewind snapshots per session, the oldest dropped first; counted in "
          "the session's memory (-1: twice the state; 0: no snapshots, no rewinds)");
ABSL_FLAG(int32_t, snapshot_states, 32,
          "spare device states for snapshots: a chunk in flight is snapshotted for roll-back "
          "into one (past that, a much slower host copy), and a rewind snapshot borrows one "
          "while it downloads in the background; made as needed, set aside from the default "
          "--device_memory_budget");
ABSL_FLAG(int32_t, max_inflight_per_stream, 64, "requests in flight on one Stream call");
ABSL_FLAG(int32_t, max_sessions, 1024, "sessions in total");
ABSL_FLAG(int32_t, max_sessions_per_user, 64, "sessions per user");
ABSL_FLAG(int32_t, max_pinned_sessions_per_user, 4,
          "sessions one user may create pinned (never moved below host memory)");
ABSL_FLAG(int64_t, device_memory_budget, -1,
          "bytes of session state on the device before idle sessions move down (-1: CUDA: "
          "what the GPU has free after weights and workspace, less max(5%, 1 GiB); CPU: "
          "2 GiB, or a quarter of RAM when smaller); the choice is logged at startup");
ABSL_FLAG(int64_t, host_memory_budget, int64_t{8} << 30,
          "bytes of session state in host memory before idle sessions go to disk");
ABSL_FLAG(bool, wait_for_session_lock, false,
          "a second writer to a session waits instead of getting ABORTED");
ABSL_FLAG(int32_t, worker_threads, 0,
          "threads that claim sessions, answer requests and write checkpoints (0: one per "
          "core); forward passes run on the engine loop, whose batches do not depend on it");
ABSL_FLAG(int32_t, max_slice_tokens, 0,
          "longest slice of an input chunk in one engine step (0: the backend's step size)");
ABSL_FLAG(int32_t, step_token_budget, 8192,
          "input tokens per engine step when no session is generating");
ABSL_FLAG(double, prefill_share, 0.5,
          "with sessions generating, input may add this share of a decode step's time on "
          "average (fairness: a long upload adds about that to everyone's inter-token "
          "latency; one step at most the larger of the share and one input token's cost)");
ABSL_FLAG(int32_t, max_decode_batch, 1024, "most generating sessions in one engine step");
ABSL_FLAG(absl::Duration, session_ttl, absl::ZeroDuration(),
          "sessions idle (unused) this long expire: deleted, or stored as checkpoint "
          "expired-<id> first when created with keep_on_expiry; 0: never. A user's "
          "session_ttl=DURATION in the --api_keys file overrides it for that user");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "on SIGTERM, how long running requests may take to finish");

namespace hecate {
namespace {

absl::StatusOr<std::unique_ptr<Backend>> MakeBackend(std::shared_ptr<const Model> model) {
  const std::string choice = absl::GetFlag(FLAGS_backend);
  const std::string gemm = absl::GetFlag(FLAGS_gemm);
  if (choice != "auto" && choice != "cpu" && choice != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat("--backend must be auto, cpu or cuda, got ", choice));
  }
  absl::StatusOr<GemmMode> gemm_mode = ParseGemmMode(gemm);
  if (!gemm_mode.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--gemm must be fp32, tf32 or 3xtf32, got \"", gemm, "\""));
  }
  const std::string weights = absl::GetFlag(FLAGS_weights);
  absl::StatusOr<WeightFormat> format = ParseWeightFormat(weights);
  if (!format.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--weights must be fp32 or bf16, got \"", weights, "\""));
  }
  if (choice == "cuda" || (choice == "auto" && CudaBackendAvailable())) {
    CudaBackendOptions options;
    options.gemm = *gemm_mode;
    options.weights = *format;
    // A step without decode work may group the input slices of several
    // sessions up to the step's token budget.
    options.max_step_rows = std::max(absl::GetFlag(FLAGS_step_token_budget), 1);
    return MakeCudaBackend(std::move(model), options);
  }
  auto needs_cuda = [&choice](const std::string& flag, const char* fp32_only) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " needs the CUDA backend (",
        choice == "cpu" ? "--backend=cpu was given" : "no CUDA device here",
        "); the CPU backend computes with fp32 ", fp32_only, " only"));
  };
  // The CPU reference is the fp32 oracle; a bf16 mode there would only
  // simulate the CUDA one (and serve the same model slower).
  if (*format != WeightFormat::kFp32) return needs_cuda("--weights=" + weights, "weights");
  // As for bf16 weights: the CPU reference multiplies in fp32 and has no
  // tensor-core modes; serving fp32 instead would quietly ignore the request.
  if (*gemm_mode != GemmMode::kFp32) return needs_cuda("--gemm=" + gemm, "products");
  return MakeCpuBackend(std::move(model));
}

int Run() {
  absl::StatusOr<std::shared_ptr<const Model>> model =
      LoadModel(absl::GetFlag(FLAGS_model), absl::GetFlag(FLAGS_seed));
  if (!model.ok()) {
    LOG(ERROR) << "cannot load model: " << model.status();
    if (absl::GetFlag(FLAGS_model) == kDefaultModel) {
      LOG(ERROR) << "the default --model=" << kDefaultModel
                 << " is relative to the repository root; run hecated from there, or pass "
                    "--model=PATH (a model folder) or --model=random:tiny";
    }
    return 1;
  }
  absl::StatusOr<std::unique_ptr<Backend>> backend = MakeBackend(*model);
  if (!backend.ok()) {
    LOG(ERROR) << backend.status();
    return 1;
  }
  std::unique_ptr<ApiKeys> keys = std::make_unique<ApiKeys>();
  if (!absl::GetFlag(FLAGS_api_keys).empty()) {
    absl::StatusOr<std::unique_ptr<ApiKeys>> loaded = ApiKeys::FromFile(absl::GetFlag(FLAGS_api_keys));
    if (!loaded.ok()) {
      LOG(ERROR) << loaded.status();
      return 1;
    }
    keys = *std::move(loaded);
  } else {
    LOG(WARNING) << "no --api_keys: authentication is OFF; serving loopback only";
  }

  ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.worker_threads = absl::GetFlag(FLAGS_worker_threads);
  options.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  options.session_ttl = absl::GetFlag(FLAGS_session_ttl);
  const int max_slice_tokens = absl::GetFlag(FLAGS_max_slice_tokens);
  const int step_token_budget = absl::GetFlag(FLAGS_step_token_budget);
  const double prefill_share = absl::GetFlag(FLAGS_prefill_share);
  const int max_decode_batch = absl::GetFlag(FLAGS_max_decode_batch);
  if (max_slice_tokens < 0 || step_token_budget < 1 || max_decode_batch < 1 ||
      !(prefill_share > 0 && prefill_share <= 100)) {
    LOG(ERROR) << "--max_slice_tokens must be >= 0, --step_token_budget and "
                  "--max_decode_batch >= 1, --prefill_share in (0, 100]";
    return 1;
  }
  options.engine.max_slice_tokens = static_cast<size_t>(max_slice_tokens);
  options.engine.max_step_tokens = static_cast<size_t>(step_token_budget);
  options.engine.prefill_share = prefill_share;
  options.engine.max_decode_batch = static_cast<size_t>(max_decode_batch);
  options.limits.max_chunk_bytes = absl::GetFlag(FLAGS_max_chunk_bytes);
  options.limits.max_generate_tokens = absl::GetFlag(FLAGS_max_generate_tokens);
  options.limits.max_inflight_per_stream = absl::GetFlag(FLAGS_max_inflight_per_stream);
  if (absl::GetFlag(FLAGS_max_journal_bytes) < 0) {
    LOG(ERROR) << "--max_journal_bytes must be >= 0";
    return 1;
  }
  options.store.max_journal_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_journal_bytes));
  if (absl::GetFlag(FLAGS_snapshot_interval) < 1) {
    LOG(ERROR) << "--snapshot_interval must be >= 1";
    return 1;
  }
  options.store.snapshot_interval = static_cast<uint64_t>(absl::GetFlag(FLAGS_snapshot_interval));
  if (const int64_t bytes = absl::GetFlag(FLAGS_max_snapshot_bytes_per_session); bytes >= 0) {
    options.store.max_snapshot_bytes = static_cast<size_t>(bytes);
  }
  if (absl::GetFlag(FLAGS_snapshot_states) < 0) {
    LOG(ERROR) << "--snapshot_states must be >= 0";
    return 1;
  }
  options.store.max_device_chunk_snapshots =
      static_cast<size_t>(absl::GetFlag(FLAGS_snapshot_states));
  // Off the host, a whole-state download would stall the engine step.
  options.store.background_snapshots = (*backend)->name() != "cpu";
  options.store.max_sessions_total = absl::GetFlag(FLAGS_max_sessions);
  options.store.max_sessions_per_user = absl::GetFlag(FLAGS_max_sessions_per_user);
  options.store.max_pinned_sessions_per_user =
      static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_max_pinned_sessions_per_user)));
  {
    MemoryBudgetInputs budget_inputs;
    budget_inputs.flag_bytes = absl::GetFlag(FLAGS_device_memory_budget);
    budget_inputs.backend = (*backend)->name();
    if (budget_inputs.backend == "cuda") {
      absl::StatusOr<CudaMemoryInfo> memory = CudaDeviceMemory();
      budget_inputs.device_memory =
          memory.ok() ? absl::StatusOr<DeviceMemory>(DeviceMemory{memory->free_bytes,
                                                                  memory->total_bytes})
                      : memory.status();
    }
    budget_inputs.physical_ram_bytes = PhysicalRamBytes();
    budget_inputs.spare_bytes =
        options.store.max_device_chunk_snapshots * (*backend)->state_bytes();
    const MemoryBudget budget = ChooseDeviceMemoryBudget(budget_inputs);
    const std::string description =
        DescribeMemoryBudget(budget, (*backend)->state_bytes());
    if (budget.starved) {
      LOG(WARNING) << description << ": no room on the device beyond the sessions in use";
    } else {
      LOG(INFO) << description;
    }
    options.store.device_budget_bytes = budget.bytes;
    if (budget_inputs.backend == "cuda") {
      // Deleted sessions' memory serves the next sessions without a device
      // synchronisation; the budget bounds what the pool can hold.
      if (absl::Status kept = RetainCudaStateMemory(**backend, budget.bytes +
                                                                  budget_inputs.spare_bytes);
          !kept.ok()) {
        LOG(WARNING) << "state memory pool: " << kept;
      }
    }
  }
  options.store.host_budget_bytes = absl::GetFlag(FLAGS_host_memory_budget);
  options.store.host_tier = (*backend)->name() != "cpu";
  options.store.state_dir = absl::GetFlag(FLAGS_state_dir);
  options.store.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  if (absl::GetFlag(FLAGS_checkpoint_quota_bytes_per_user) < 0) {
    LOG(ERROR) << "--checkpoint_quota_bytes_per_user must be >= 0";
    return 1;
  }
  options.store.checkpoint_quota_bytes_per_user =
      static_cast<uint64_t>(absl::GetFlag(FLAGS_checkpoint_quota_bytes_per_user));
  if (const int64_t reserve = absl::GetFlag(FLAGS_reserved_state_bytes); reserve >= 0) {
    options.store.reserved_state_bytes = static_cast<uint64_t>(reserve);
  } else if (reserve != -1) {
    LOG(ERROR) << "--reserved_state_bytes must be >= 0, or -1 for the default";
    return 1;
  }
  options.store.wait_for_lock = absl::GetFlag(FLAGS_wait_for_session_lock);
  if (const std::string replica = absl::GetFlag(FLAGS_replica_id); !replica.empty()) {
    if (absl::GetFlag(FLAGS_checkpoint_dir).empty()) {
      LOG(ERROR) << "--replica_id needs --checkpoint_dir (the store the replicas share)";
      return 1;
    }
    options.shared.replica_id = replica;
    options.shared.root = absl::GetFlag(FLAGS_checkpoint_dir) + "/replicas";
    options.shared.checkpoint_interval = absl::GetFlag(FLAGS_checkpoint_interval);
    options.shared.lease_duration = absl::GetFlag(FLAGS_session_lease);
  }
  if (const std::string path = absl::GetFlag(FLAGS_checkpoint_key_file); !path.empty()) {
    absl::StatusOr<CheckpointKey> key = CheckpointKey::FromFile(path);
    if (!key.ok()) {
      LOG(ERROR) << "--checkpoint_key_file: " << key.status();
      return 1;
    }
    options.store.checkpoint_signing.key = std::make_shared<const CheckpointKey>(*std::move(key));
    options.store.checkpoint_signing.allow_unsigned =
        absl::GetFlag(FLAGS_allow_unsigned_checkpoints);
    LOG(INFO) << "checkpoints are signed with key " << options.store.checkpoint_signing.key->id_hex()
              << (options.store.checkpoint_signing.allow_unsigned
                      ? "; unsigned ones are restored too (--allow_unsigned_checkpoints)"
                      : "; unsigned ones are refused");
  } else if (absl::GetFlag(FLAGS_allow_unsigned_checkpoints)) {
    LOG(ERROR) << "--allow_unsigned_checkpoints needs --checkpoint_key_file (without a key "
                  "every checkpoint is unsigned and accepted on its CRCs)";
    return 1;
  } else {
    LOG(WARNING) << "no --checkpoint_key_file: checkpoints are unsigned; a restore checks their "
                    "integrity (CRCs) but cannot tell a forged checkpoint from a real one";
  }

  // Signals are taken by one thread with sigwait; block them everywhere first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<std::unique_ptr<HecateServer>> server =
      HecateServer::Start(options, *std::move(backend), std::move(keys));
  if (!server.ok()) {
    LOG(ERROR) << "cannot start: " << server.status();
    return 1;
  }
  if (const std::string path = absl::GetFlag(FLAGS_port_file); !path.empty()) {
    const std::string tmp = path + ".tmp";
    // Line 1: the gRPC port; line 2: the HTTP (metrics) port.
    std::ofstream(tmp) << (*server)->grpc_port() << "\n" << (*server)->http_port() << "\n";
    std::rename(tmp.c_str(), path.c_str());
  }
  for (;;) {
    int signal = 0;
    sigwait(&signals, &signal);
    if (signal == SIGHUP) {
      absl::Status reloaded = (*server)->keys().Reload();
      if (reloaded.ok()) {
        LOG(INFO) << "SIGHUP: api keys reloaded (" << (*server)->keys().size() << " keys)";
      } else {
        LOG(ERROR) << "SIGHUP: keeping the old api keys: " << reloaded;
      }
      continue;
    }
    LOG(INFO) << (signal == SIGINT ? "SIGINT" : "SIGTERM") << ": draining";
    absl::Status drained = (*server)->Drain();
    if (!drained.ok()) {
      LOG(ERROR) << "drain: " << drained;
      return 1;
    }
    LOG(INFO) << "drained; exiting";
    return 0;
  }
}

}  // namespace
}  // namespace hecate

int main(int argc, char** argv) {
  // Session states are megabytes each and come and go with sessions: a fixed
  // mmap threshold returns them to the OS on delete instead of letting
  // glibc's adaptive threshold park them in per-thread arenas.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // Debian builds abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detection on: every lock then updates a process-wide lock graph under
  // one global spinlock (GraphCycles::GetId was 2% of hecated's CPU while it
  // served 256 generating sessions, on every thread that locks). Tests keep
  // the detector; the daemon's lock order is what they exercised.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "hecated: serves HecateLM sessions over gRPC.\n"
      "  hecated [--listen=127.0.0.1:50051] [--model=models/tiny-shakespeare] [--state_dir=hecate-state] ...");
  // --help lists the flags of this file (absl matches on the file name otherwise).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::EndsWith(path, "server/main.cc");
  };
  // absl's default --version line describes absl's own build, not ours.
  usage.version_string = [] {
    return absl::StrCat("hecated ", hecate::ServerOptions().version,
                        " (hecate.v1 API, checkpoint format v",
                        hecate::checkpoint_format::kFormatVersion, ")\n");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  return hecate::Run();
}
