#include "backends/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "backends/cuda/forward_engine.h"
#include "backends/cuda/state_memory.h"
#include "backends/cuda/state_ring.h"
#include "backends/cuda/step_workspace.h"
#include "kernels/cuda_check.h"
#include "kernels/device.h"

namespace hecate {
namespace {

// One session's state: one device allocation in StateLayout order.
class CudaState final : public BackendState {
 public:
  CudaState(const void* owner, std::shared_ptr<StateMemory> memory, float* data, size_t bytes)
      : owner_(owner), memory_(std::move(memory)), data_(data), bytes_(bytes) {}
  ~CudaState() override { memory_->Free(data_); }
  CudaState(const CudaState&) = delete;
  CudaState& operator=(const CudaState&) = delete;

  uint64_t pulse_id() const override { return pulse_; }
  size_t resident_bytes() const override { return bytes_; }

  const void* owner() const { return owner_; }
  float* data() const { return data_; }
  void set_pulse(uint64_t pulse) { pulse_ = pulse; }

 private:
  const void* owner_;
  const std::shared_ptr<StateMemory> memory_;
  float* data_;
  size_t bytes_;
  uint64_t pulse_ = 0;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(std::shared_ptr<const Model> model, CudaBackendOptions options,
              std::unique_ptr<ForwardEngine> engine, std::shared_ptr<StateMemory> state_memory,
              cudaStream_t transfer_stream, std::array<PinnedBuffer, 2> stages,
              std::array<cudaEvent_t, 2> staged)
      : model_(std::move(model)),
        options_(options),
        layout_(model_->config()),
        ring_(engine->ring()),
        state_memory_(std::move(state_memory)),
        transfer_stream_(transfer_stream),
        stages_(std::move(stages)),
        staged_(staged),
        engine_(std::move(engine)) {}
  ~CudaBackend() override {
    cudaSetDevice(options_.device);
    {
      absl::MutexLock lock(&mu_);
      state_memory_->ReleaseFreed(engine_->stream());
      cudaStreamSynchronize(engine_->stream());
    }
    state_memory_->Detach();  // states that outlive the engine free at once
    for (cudaEvent_t e : staged_) cudaEventDestroy(e);
    cudaStreamDestroy(transfer_stream_);
  }

  std::string name() const override { return "cuda"; }
  const Model& model() const override { return *model_; }
  GemmMode gemm_mode() const override { return options_.gemm; }
  WeightFormat weight_format() const override { return options_.weights; }
  int max_step_tokens() const override { return options_.max_step_tokens; }
  size_t state_bytes() const override { return ring_.state_bytes(); }
  StateMemory& state_memory() const { return *state_memory_; }

  // Not under mu_: a new state waits for no step (StateMemory).
  absl::StatusOr<std::unique_ptr<BackendState>> NewState() override {
    // Zeros: the canonical state at pulse 0 with empty rings (origin 0).
    absl::StatusOr<void*> data = state_memory_->AllocateZeroed(ring_.state_bytes());
    if (absl::IsResourceExhausted(data.status())) {
      // Deleted states not yet handed back (no step since) may be the room.
      {
        absl::MutexLock lock(&mu_);
        state_memory_->ReleaseFreed(engine_->stream());
      }
      data = state_memory_->AllocateZeroed(ring_.state_bytes());
    }
    HECATE_RETURN_IF_ERROR(data.status());
    return std::make_unique<CudaState>(this, state_memory_, static_cast<float*>(*data),
                                       ring_.state_bytes());
  }

  absl::Status Upload(const ModelState& host, BackendState& state) override {
    HECATE_ASSIGN_OR_RETURN(CudaState * cuda, Cast(state, "Upload"));
    if (host.config() != model_->config()) {
      return absl::InvalidArgumentError(absl::StrCat("Upload: state of config ",
                                                     host.config().Summary(), ", model is ",
                                                     model_->config().Summary()));
    }
    // On the transfer stream, not under mu_: a state's owner has it alone,
    // and every call on the engine's stream has finished before it returns,
    // so moving a state to or from the host needs not wait for the step in
    // flight (a 120 MB copy would otherwise stall every session in it).
    absl::MutexLock lock(&transfer_mu_);
    HECATE_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    HECATE_RETURN_IF_ERROR(StagedCopy(reinterpret_cast<char*>(cuda->data()),
                                      reinterpret_cast<const char*>(host.data().data()),
                                      nullptr, layout_.total_bytes()));
    // The uploaded G is the whole error buffer: the rings start empty.
    HECATE_RETURN_IF_ERROR(ring_.Reset(cuda->data(), host.pulse_id(), transfer_stream_));
    HECATE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(transfer_stream_));
    cuda->set_pulse(host.pulse_id());
    return absl::OkStatus();
  }

  absl::Status Download(const BackendState& state, ModelState& host) override {
    const CudaState* cuda = dynamic_cast<const CudaState*>(&state);
    if (cuda == nullptr || cuda->owner() != this) {
      return absl::InvalidArgumentError("Download: not a state of this CUDA backend");
    }
    if (host.config() != model_->config()) {
      return absl::InvalidArgumentError("Download: host state has another config");
    }
    absl::MutexLock lock(&transfer_mu_);  // as in Upload
    HECATE_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    // Decode steps left part of each error buffer in the rings: add them
    // into G (the canonical state is the same; only its form changes), so
    // what leaves the device is the canonical state.
    HECATE_RETURN_IF_ERROR(ring_.Fold(cuda->data(), cuda->pulse_id(), transfer_stream_));
    HECATE_RETURN_IF_ERROR(StagedCopy(reinterpret_cast<char*>(cuda->data()), nullptr,
                                      reinterpret_cast<char*>(host.data().data()),
                                      layout_.total_bytes()));
    host.set_pulse_id(cuda->pulse_id());
    return absl::OkStatus();
  }

  // Device to device on the engine's stream: a fork never leaves the GPU.
  absl::Status Copy(const BackendState& from, BackendState& to) override {
    const CudaState* source = dynamic_cast<const CudaState*>(&from);
    if (source == nullptr || source->owner() != this) {
      return absl::InvalidArgumentError("Copy: not a state of this CUDA backend");
    }
    HECATE_ASSIGN_OR_RETURN(CudaState * target, Cast(to, "Copy"));
    absl::MutexLock lock(&mu_);
    HECATE_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    state_memory_->ReleaseFreed(engine_->stream());
    // The whole allocation: the rings and their origin travel along.
    HECATE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(target->data(), source->data(),
                                                ring_.state_bytes(), cudaMemcpyDeviceToDevice,
                                                engine_->stream()));
    HECATE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(engine_->stream()));
    target->set_pulse(source->pulse_id());
    return absl::OkStatus();
  }

  absl::Status Forward(BackendState& state, absl::Span<const uint8_t> tokens, LogitsMode mode,
                       std::vector<float>* logits, const std::atomic<bool>* cancel,
                       size_t* applied) override {
    if (applied != nullptr) *applied = 0;
    HECATE_ASSIGN_OR_RETURN(CudaState * cuda, Cast(state, "Forward"));
    HECATE_RETURN_IF_ERROR(ValidateForward(model_->config(), tokens, mode, logits));
    absl::MutexLock lock(&mu_);
    HECATE_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    state_memory_->ReleaseFreed(engine_->stream());
    return ForwardLocked(*cuda, tokens, mode, logits, cancel, applied);
  }

  absl::Status ForwardBatch(absl::Span<ForwardItem> items) override {
    // Validate everything before any state moves.
    absl::flat_hash_set<const BackendState*> seen;
    std::vector<CudaState*> states;
    for (const ForwardItem& item : items) {
      if (item.state == nullptr) return absl::InvalidArgumentError("ForwardBatch: null state");
      HECATE_ASSIGN_OR_RETURN(CudaState * cuda, Cast(*item.state, "ForwardBatch"));
      if (!seen.insert(item.state).second) {
        return absl::InvalidArgumentError("ForwardBatch: the same state appears twice");
      }
      HECATE_RETURN_IF_ERROR(ValidateForward(model_->config(), item.tokens, item.mode,
                                             item.logits));
      states.push_back(cuda);
    }
    absl::MutexLock lock(&mu_);
    HECATE_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device));
    state_memory_->ReleaseFreed(engine_->stream());
    // Items by length; the same length runs in groups of one step each.
    std::map<size_t, std::vector<size_t>> by_length;
    for (size_t i = 0; i < items.size(); ++i) {
      const size_t length = items[i].tokens.size();
      if (length >= 1 && length <= size_t(options_.max_step_tokens)) {
        by_length[length].push_back(i);
      } else {  // in steps of max_step_tokens
        HECATE_RETURN_IF_ERROR(ForwardLocked(*states[i], items[i].tokens, items[i].mode,
                                             items[i].logits, nullptr, nullptr));
      }
    }
    for (const auto& [length, group] : by_length) {
      const size_t most = static_cast<size_t>(engine_->MaxBatch(static_cast<int>(length)));
      if (most == 0) {
        return absl::InternalError(absl::StrCat("ForwardBatch: no step holds ", length,
                                                " tokens of one session"));
      }
      for (size_t begin = 0; begin < group.size(); begin += most) {
        const size_t end = std::min(group.size(), begin + most);
        HECATE_RETURN_IF_ERROR(
            StepGroup(items, states, absl::MakeConstSpan(group).subspan(begin, end - begin)));
      }
    }
    return absl::OkStatus();
  }

 private:
  // Host <-> device in slices through two pinned stages, so that the copy
  // engine is held a slice at a time: a pageable copy of a whole state
  // (120 MB) held it for ~90 ms at the driver's staging speed, and every
  // step's logits download queued behind it. Uploads from `from_host`, or
  // (when null) downloads to `to_host`; returns when done.
  absl::Status StagedCopy(char* device, const char* from_host, char* to_host, size_t bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(transfer_mu_) {
    const cudaMemcpyKind kind =
        from_host != nullptr ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost;
    const size_t slice = stages_[0].bytes();
    const size_t slices = (bytes + slice - 1) / slice;
    for (size_t i = 0; i < slices; ++i) {
      const size_t at = i * slice, n = std::min(slice, bytes - at);
      char* stage = stages_[i % 2].data();
      if (kind == cudaMemcpyHostToDevice) {
        // The stage's previous slice (i - 2) must have left it.
        if (i >= 2) HECATE_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(staged_[i % 2]));
        std::memcpy(stage, from_host + at, n);
        HECATE_CUDA_RETURN_IF_ERROR(
            cudaMemcpyAsync(device + at, stage, n, kind, transfer_stream_));
      } else {
        HECATE_CUDA_RETURN_IF_ERROR(
            cudaMemcpyAsync(stage, device + at, n, kind, transfer_stream_));
      }
      HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(staged_[i % 2], transfer_stream_));
      if (kind == cudaMemcpyDeviceToHost && i >= 1) {  // drain the previous slice meanwhile
        HECATE_RETURN_IF_ERROR(Drain(to_host, i - 1, slice, bytes));
      }
    }
    if (kind == cudaMemcpyDeviceToHost && slices > 0) {
      return Drain(to_host, slices - 1, slice, bytes);
    }
    return CudaStatus(cudaStreamSynchronize(transfer_stream_), "StagedCopy");
  }
  // Device to host: slice `i`, once in its stage, to `host`.
  absl::Status Drain(char* host, size_t i, size_t slice, size_t bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(transfer_mu_) {
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(staged_[i % 2]));
    const size_t at = i * slice;
    std::memcpy(host + at, stages_[i % 2].data(), std::min(slice, bytes - at));
    return absl::OkStatus();
  }

  absl::StatusOr<CudaState*> Cast(BackendState& state, const char* op) const {
    CudaState* cuda = dynamic_cast<CudaState*>(&state);
    if (cuda == nullptr || cuda->owner() != this) {
      return absl::InvalidArgumentError(absl::StrCat(op, ": not a state of this CUDA backend"));
    }
    return cuda;
  }

  absl::Status ForwardLocked(CudaState& state, absl::Span<const uint8_t> tokens,
                             LogitsMode mode, std::vector<float>* logits,
                             const std::atomic<bool>* cancel, size_t* applied)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    float* const states[1] = {state.data()};
    return ForwardInSteps(
        tokens, mode, model_->config().vocab_size, options_.max_step_tokens, logits, cancel,
        applied, [&](absl::Span<const uint8_t> step, LogitsMode rows, float* out) {
          const uint64_t pulses[1] = {state.pulse_id()};
          HECATE_RETURN_IF_ERROR(
              engine_->Step(states, pulses, step, static_cast<int>(step.size()), rows, out));
          state.set_pulse(state.pulse_id() + step.size());
          return absl::OkStatus();
        });
  }

  // One step for items[group[i]], all of the same length: logits of every
  // row when any item wants them all, else of each session's last row.
  absl::Status StepGroup(absl::Span<ForwardItem> items, const std::vector<CudaState*>& states,
                         absl::Span<const size_t> group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int64_t vocab = model_->config().vocab_size;
    const size_t length = items[group[0]].tokens.size();
    std::vector<float*> data;
    std::vector<uint64_t> pulses;
    std::vector<uint8_t> tokens;
    LogitsMode rows = LogitsMode::kNone;
    for (size_t i : group) {
      data.push_back(states[i]->data());
      pulses.push_back(states[i]->pulse_id());
      tokens.insert(tokens.end(), items[i].tokens.begin(), items[i].tokens.end());
      if (items[i].mode == LogitsMode::kAll) rows = LogitsMode::kAll;
      if (items[i].mode == LogitsMode::kLast && rows == LogitsMode::kNone) {
        rows = LogitsMode::kLast;
      }
    }
    // Rows per session in batch_logits_.
    const size_t per_session = rows == LogitsMode::kAll ? length : 1;
    batch_logits_.resize(rows == LogitsMode::kNone ? 0 : group.size() * per_session * vocab);
    HECATE_RETURN_IF_ERROR(engine_->Step(data, pulses, tokens, static_cast<int>(length), rows,
                                         batch_logits_.data()));
    for (size_t b = 0; b < group.size(); ++b) {
      ForwardItem& item = items[group[b]];
      states[group[b]]->set_pulse(states[group[b]]->pulse_id() + length);
      if (item.mode == LogitsMode::kNone) continue;
      const size_t first = b * per_session + (item.mode == LogitsMode::kAll ? 0 : per_session - 1);
      const size_t count = item.mode == LogitsMode::kAll ? length : 1;
      item.logits->assign(batch_logits_.begin() + first * vocab,
                          batch_logits_.begin() + (first + count) * vocab);
    }
    return absl::OkStatus();
  }

  std::shared_ptr<const Model> model_;
  const CudaBackendOptions options_;
  const StateLayout layout_;
  const StateRing ring_;  // the engine's, for Upload and Download off mu_
  const std::shared_ptr<StateMemory> state_memory_;
  absl::Mutex transfer_mu_;
  const cudaStream_t transfer_stream_;  // host <-> device copies (Upload, Download)
  std::array<PinnedBuffer, 2> stages_ ABSL_GUARDED_BY(transfer_mu_);
  const std::array<cudaEvent_t, 2> staged_;  // a stage's last copy done
  absl::Mutex mu_;
  std::unique_ptr<ForwardEngine> engine_ ABSL_GUARDED_BY(mu_);
  std::vector<float> batch_logits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

bool CudaBackendAvailable() { return CudaDeviceAvailable(); }

absl::Status RetainCudaStateMemory(Backend& backend, size_t bytes) {
  CudaBackend* cuda = dynamic_cast<CudaBackend*>(&backend);
  if (cuda == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("RetainCudaStateMemory: backend ", backend.name(), " is not CUDA"));
  }
  return cuda->state_memory().Retain(bytes);
}

absl::StatusOr<CudaMemoryInfo> CudaDeviceMemory(int device) {
  if (!CudaDeviceAvailable()) return absl::FailedPreconditionError("no CUDA device");
  HECATE_RETURN_IF_ERROR(CudaStatus(cudaSetDevice(device), "cudaSetDevice"));
  CudaMemoryInfo info;
  HECATE_RETURN_IF_ERROR(
      CudaStatus(cudaMemGetInfo(&info.free_bytes, &info.total_bytes), "cudaMemGetInfo"));
  return info;
}

absl::StatusOr<size_t> CudaFreeDeviceBytes(int device) {
  HECATE_ASSIGN_OR_RETURN(CudaMemoryInfo info, CudaDeviceMemory(device));
  return info.free_bytes;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(std::shared_ptr<const Model> model,
                                                         CudaBackendOptions options) {
  if (model == nullptr) return absl::InvalidArgumentError("MakeCudaBackend: null model");
  if (options.transfer_slice_bytes < 1) {
    return absl::InvalidArgumentError("MakeCudaBackend: transfer_slice_bytes must be >= 1");
  }
  if (options.max_step_tokens < 1 || options.max_batch < 1 || options.max_prefill_batch < 1 ||
      options.max_step_rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MakeCudaBackend: max_step_tokens, max_batch, max_prefill_batch and max_step_rows must "
        "be >= 1, got ", options.max_step_tokens, ", ", options.max_batch, ", ",
        options.max_prefill_batch, " and ", options.max_step_rows));
  }
  if (options.gemm != GemmMode::kFp32 && options.gemm != GemmMode::kTf32 &&
      options.gemm != GemmMode::k3xTf32) {
    return absl::InvalidArgumentError(
        absl::StrCat("MakeCudaBackend: unknown gemm mode ", static_cast<int>(options.gemm)));
  }
  if (options.weights != WeightFormat::kFp32 && options.weights != WeightFormat::kBf16) {
    return absl::InvalidArgumentError(absl::StrCat("MakeCudaBackend: unknown weight format ",
                                                   static_cast<int>(options.weights)));
  }
  const ModelConfig& c = model->config();
  const int d = c.head_dim();
  if (d % 8 != 0 || d > 128) {
    return absl::UnimplementedError(absl::StrCat(
        "MakeCudaBackend: head width must be a multiple of 8, at most 128; got ", d));
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count <= options.device ||
      options.device < 0) {
    cudaGetLastError();
    return absl::FailedPreconditionError(
        absl::StrCat("MakeCudaBackend: no CUDA device ", options.device));
  }
  HECATE_CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device));
  ForwardEngineOptions engine_options;
  engine_options.gemm = options.gemm;
  engine_options.min_3xtf32_rows = options.min_3xtf32_rows;
  engine_options.max_3xtf32_stack_rows = options.max_3xtf32_stack_rows;
  engine_options.weights = options.weights;
  engine_options.max_batch = options.max_batch;
  engine_options.poison_scratch = options.poison_scratch;
  engine_options.decode_graphs = options.decode_graphs;
  engine_options.decode_ring = options.decode_ring;
  engine_options.max_prefill_batch = options.max_prefill_batch;
  engine_options.max_rows =
      std::max({options.max_step_tokens, options.max_batch, options.max_step_rows});
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<ForwardEngine> engine,
                          ForwardEngine::Create(model, engine_options));
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<StateMemory> state_memory,
                          StateMemory::Create(options.device));
  cudaStream_t transfer_stream = nullptr;
  HECATE_CUDA_RETURN_IF_ERROR(
      cudaStreamCreateWithFlags(&transfer_stream, cudaStreamNonBlocking));
  std::array<PinnedBuffer, 2> stages;
  std::array<cudaEvent_t, 2> staged = {};
  for (int i = 0; i < 2; ++i) {
    HECATE_ASSIGN_OR_RETURN(stages[i], PinnedBuffer::Create(options.transfer_slice_bytes));
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&staged[i], cudaEventDisableTiming));
  }
  return std::make_unique<CudaBackend>(std::move(model), options, std::move(engine),
                                       std::move(state_memory), transfer_stream,
                                       std::move(stages), staged);
}

}  // namespace hecate
