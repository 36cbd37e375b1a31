#include "backends/cuda/forward_engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "kernels/cuda_check.h"
#include "kernels/fused/fused.h"
#include "kernels/gdr_prefill/gdr_prefill_kernel.h"
#include "runtime/model_state.h"

namespace hecate {

absl::StatusOr<std::unique_ptr<ForwardEngine>> ForwardEngine::Create(
    std::shared_ptr<const Model> model, const ForwardEngineOptions& given) {
  const ModelConfig& c = model->config();
  const ForwardEngineOptions options = WithEnvironment(given);
  const bool split = options.gemm == GemmMode::k3xTf32;
  HECATE_ASSIGN_OR_RETURN(DeviceWeights weights,
                          DeviceWeights::Upload(*model, options.weights, split));
  // 3xtf32: the widest GEMM input is D (qkv+gates, Wo, W1|W3) or F (W2),
  // the widest output the projection, W1|W3 (2F) or D; the stacked
  // products hold twice the rows of the longest stacked step.
  const int split_cols = split ? std::max(c.d_model, c.d_ff) : 0;
  const int stack_rows =
      split ? std::clamp(options.max_3xtf32_stack_rows, 0, options.max_rows) : 0;
  const size_t product_floats =
      2 * size_t(stack_rows) * std::max({weights.proj_cols(), 2 * c.d_ff, c.d_model});
  HECATE_ASSIGN_OR_RETURN(
      StepWorkspace ws,
      StepWorkspace::Create(c, weights.proj_cols(), options.max_rows, options.max_batch,
                            options.max_prefill_batch, split_cols, product_floats));
  if (split) {
    // What the mode costs in device memory, once per engine.
    const size_t split_scratch = 2 * size_t(options.max_rows) * split_cols * sizeof(float);
    LOG(INFO) << "3xtf32 GEMMs: weight matrices' TF32 hi/lo "
              << weights.tf32_parts_bytes() / 1e6 << " MB"
              << (options.weights == WeightFormat::kBf16 ? " (none: bf16 weights are TF32)" : "")
              << ", activations' hi/lo scratch " << split_scratch / 1e6 << " MB ("
              << options.max_rows << " rows x " << split_cols << "), stacked products "
              << product_floats * sizeof(float) / 1e6 << " MB (steps of " << stack_rows
              << " rows or fewer); fp32 below " << options.min_3xtf32_rows << " rows";
  }
  DeviceBuffer<float> widened;
  if (options.weights == WeightFormat::kBf16) {
    HECATE_ASSIGN_OR_RETURN(widened,
                            DeviceBuffer<float>::Create(weights.max_matrix_elements()));
  }
  std::unique_ptr<ForwardEngine> engine(
      new ForwardEngine(std::move(model), options, std::move(weights), std::move(ws)));
  engine->widened_ = std::move(widened);

  int device = 0;
  HECATE_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  HECATE_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&engine->multiprocessors_,
                                                     cudaDevAttrMultiProcessorCount, device));
  HECATE_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&engine->stream_, cudaStreamNonBlocking));
  // The mixers' branch streams (Layer), made here: not while capturing.
  HECATE_RETURN_IF_ERROR(engine->CreateBranches());
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasCreate(&engine->cublas_));
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasSetStream(engine->cublas_, engine->stream_));
  // 3xtf32 keeps the default math: its split products ask for TF32 per
  // call (Tf32Gemm), and the logits GEMM stays fp32.
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasSetMathMode(
      engine->cublas_,
      options.gemm == GemmMode::kTf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<char> cublas_ws,
                          DeviceBuffer<char>::Create(kCublasWorkspaceBytes));
  engine->cublas_workspace_ = std::move(cublas_ws);
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasSetWorkspace(
      engine->cublas_, engine->cublas_workspace_.data(), kCublasWorkspaceBytes));
  if (options.decode_graphs) {
    const size_t state_bytes = engine->ring_.state_bytes();
    HECATE_ASSIGN_OR_RETURN(engine->padding_state_,
                            DeviceBuffer<float>::Create(state_bytes / sizeof(float)));
    HECATE_CUDA_RETURN_IF_ERROR(cudaMemset(engine->padding_state_.data(), 0, state_bytes));
  }
  return engine;
}

int DecodeBucket(int batch, int max_batch) {
  int bucket = batch;
  if (batch > 16) {
    int octave = 16;  // batch in (octave, 2 * octave]: steps of octave / 8
    while (2 * octave < batch) octave *= 2;
    const int granule = octave / 8;
    bucket = (batch + granule - 1) / granule * granule;
  }
  return std::min(bucket, std::max(batch, max_batch));
}

ForwardEngine::ForwardEngine(std::shared_ptr<const Model> model,
                             const ForwardEngineOptions& options, DeviceWeights weights,
                             StepWorkspace workspace)
    : model_(std::move(model)),
      options_(options),
      weights_(std::move(weights)),
      ws_(std::move(workspace)),
      ring_(model_->config(), options.decode_ring ? StateRing::Slots() : 0) {
  const ModelConfig& c = model_->config();
  const StateLayout layout(c);
  auto offset = [&](int l, StateKind kind, int level) -> size_t {
    const int i = layout.Find(l, kind, level);
    return i < 0 ? 0 : layout.tensors()[i].offset;
  };
  offsets_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    LayerStateOffsets& o = offsets_[l];
    for (int j = 0; j < c.levels(); ++j) {
      o.m.push_back(offset(l, StateKind::kMemory, j));
      o.s.push_back(offset(l, StateKind::kMomentum, j));
      o.g.push_back(offset(l, StateKind::kErrorBuffer, j));
    }
    o.ring_k = offset(l, StateKind::kWindowKeys, -1);
    o.ring_v = offset(l, StateKind::kWindowValues, -1);
  }
  for (int j = 0; j < c.levels(); ++j) {
    if (c.periods[j] == 1) delta_level_ = j;
  }
  // kernels/gdr_prefill is specialised for these head widths.
  chunked_delta_rule_ = c.head_dim() == 64 || c.head_dim() == 128;
}

ForwardEngine::~ForwardEngine() {
  for (cudaEvent_t e : branch_events_) {
    if (e != nullptr) cudaEventDestroy(e);
  }
  for (cudaStream_t s : branch_streams_) {
    if (s != nullptr) cudaStreamDestroy(s);
  }
  for (auto& [key, exec] : decode_graphs_) cudaGraphExecDestroy(exec);
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

absl::Status ForwardEngine::Mark(const char* name) {
  if (!profiling_) return absl::OkStatus();
  if (marks_.size() == events_.size()) {
    cudaEvent_t e = nullptr;
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
    events_.push_back(e);
  }
  HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(events_[marks_.size()], stream_));
  marks_.push_back(name);
  return absl::OkStatus();
}

absl::Status ForwardEngine::Enqueue(int batch, int tokens, LogitsMode logit_rows) {
  const ModelConfig& c = model_->config();
  const int rows = batch * tokens, dm = c.d_model;
  if (marks_.empty()) HECATE_RETURN_IF_ERROR(Mark("start"));  // else after the ring fold
  HECATE_RETURN_IF_ERROR(EmbedGather(
      EmbedGatherParams{rows, dm, ws_.device_tokens, weights_.embed(), ws_.x}, stream_));
  HECATE_RETURN_IF_ERROR(Mark("embed"));
  for (int l = 0; l < c.n_layers; ++l) HECATE_RETURN_IF_ERROR(Layer(l, batch, tokens));
  if (logit_rows == LogitsMode::kNone) return absl::OkStatus();

  const bool all = logit_rows == LogitsMode::kAll;
  const int out_rows = all ? rows : batch;
  const float* in = all ? ws_.x : ws_.x + size_t(tokens - 1) * dm;
  const size_t in_stride = all ? size_t(dm) : size_t(tokens) * dm;
  HECATE_RETURN_IF_ERROR(RmsNorm(
      RmsNormParams{out_rows, dm, in, in_stride, weights_.norm_f(), ws_.normed}, stream_));
  // logits = normed @ E^T: column-major logits^T = E (op T of E^T) normed^T.
  const float one = 1.0f, zero = 0.0f;
  if (out_rows == 1) {
    HECATE_CUBLAS_RETURN_IF_ERROR(cublasSgemv(cublas_, CUBLAS_OP_T, dm, c.vocab_size, &one,
                                              weights_.embed(), dm, ws_.normed, 1, &zero,
                                              ws_.logits, 1));
    return Mark("logits");
  }
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, c.vocab_size,
                                            out_rows, dm, &one, weights_.embed(), dm,
                                            ws_.normed, dm, &zero, ws_.logits, c.vocab_size));
  return Mark("logits");
}

absl::Status ForwardEngine::CreateBranches() {
  for (cudaEvent_t& e : branch_events_) {
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
  for (cudaStream_t& s : branch_streams_) {
    HECATE_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  }
  return absl::OkStatus();
}

absl::StatusOr<cudaGraphExec_t> ForwardEngine::DecodeGraph(int batch, LogitsMode logit_rows) {
  const std::pair<int, int> key(batch, static_cast<int>(logit_rows));
  if (auto it = decode_graphs_.find(key); it != decode_graphs_.end()) return it->second;
  HECATE_CUDA_RETURN_IF_ERROR(
      cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  const absl::Status enqueued = Enqueue(batch, 1, logit_rows);
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
  if (!enqueued.ok() || ended != cudaSuccess) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();
    if (!enqueued.ok()) return enqueued;
    return CudaStatus(ended, "cudaStreamEndCapture (decode graph)");
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  HECATE_CUDA_RETURN_IF_ERROR(instantiated);
  decode_graphs_[key] = exec;
  return exec;
}

int ForwardEngine::MaxBatch(int tokens_per_session) const {
  if (tokens_per_session < 1 || tokens_per_session > ws_.max_rows()) return 0;
  if (tokens_per_session == 1) return ws_.max_batch();
  const ModelConfig& c = model_->config();
  int batch = std::min({ws_.max_batch(), options_.max_prefill_batch,
                        ws_.max_rows() / tokens_per_session});
  // Each session's chunks of the delta rule need their own scratch.
  while (batch > 0 && GdrPrefillWorkspaceFloats(batch, c.n_heads, c.head_dim(),
                                                tokens_per_session) > ws_.gdr_floats) {
    --batch;
  }
  return batch;
}

absl::Status ForwardEngine::Step(absl::Span<float* const> states,
                                 absl::Span<const uint64_t> pulses,
                                 absl::Span<const uint8_t> tokens, int tokens_per_session,
                                 LogitsMode logit_rows, float* logits) {
  const ModelConfig& c = model_->config();
  const int batch = static_cast<int>(states.size());
  const int64_t rows = int64_t(batch) * tokens_per_session;
  if (batch < 1 || batch > ws_.max_batch() || pulses.size() != states.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("ForwardEngine::Step: batch must be in [1, ", ws_.max_batch(),
                     "] with one pulse id per state, got ", batch, " and ", pulses.size()));
  }
  if (tokens_per_session < 1 || rows > ws_.max_rows() ||
      tokens.size() != static_cast<size_t>(rows)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ForwardEngine::Step: need 1..", ws_.max_rows(), " rows and batch * tokens_per_session "
        "token bytes, got ", tokens.size(), " for ", batch, " x ", tokens_per_session));
  }
  if (batch > MaxBatch(tokens_per_session)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ForwardEngine::Step: at most ", MaxBatch(tokens_per_session),
                     " sessions of ", tokens_per_session, " tokens per step, got ", batch));
  }
  if (logit_rows != LogitsMode::kNone && logits == nullptr) {
    return absl::InvalidArgumentError("ForwardEngine::Step: logits requested, no output");
  }
  if (options_.poison_scratch) HECATE_RETURN_IF_ERROR(ws_.Poison(stream_));
  const bool graphed = tokens_per_session == 1 && options_.decode_graphs && !profiling_;
  const int padded = graphed ? DecodeBucket(batch, ws_.max_batch()) : batch;
  // The previous step synchronised the stream, so the pinned table is free.
  for (int b = 0; b < padded; ++b) {
    ws_.host_states[b] = b < batch ? states[b] : padding_state_.data();
    ws_.host_pulse[b] = b < batch ? pulses[b] : 0;
  }
  std::copy(tokens.begin(), tokens.end(), ws_.host_tokens);
  if (padded > batch) std::fill(ws_.host_tokens + batch, ws_.host_tokens + padded, 0);
  if (padded > batch && options_.poison_scratch) {
    // Tests: NaN in every padding row, so a real row that read one shows it.
    HECATE_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(
        padding_state_.data(), 0xff, padding_state_.size() * sizeof(float), stream_));
  }
  HECATE_RETURN_IF_ERROR(
      ws_.UploadTable(static_cast<int>(std::max<int64_t>(rows, padded)), stream_));

  marks_.clear();
  if (tokens_per_session > 1 && ring_.enabled()) {
    // Longer steps work on the dense G: add the rings into it first, and
    // start them again after the step's last token.
    HECATE_RETURN_IF_ERROR(Mark("start"));
    HECATE_RETURN_IF_ERROR(ring_.FoldAll(ws_.device_states, ws_.device_pulse, batch,
                                         uint64_t(tokens_per_session), stream_));
    HECATE_RETURN_IF_ERROR(Mark("cms ring fold"));
  }
  if (graphed) {
    HECATE_ASSIGN_OR_RETURN(cudaGraphExec_t graph, DecodeGraph(padded, logit_rows));
    HECATE_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(graph, stream_));
  } else {
    HECATE_RETURN_IF_ERROR(Enqueue(batch, tokens_per_session, logit_rows));
  }
  if (logit_rows != LogitsMode::kNone) {
    const size_t out_rows = logit_rows == LogitsMode::kAll ? size_t(rows) : size_t(batch);
    HECATE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(logits, ws_.logits,
                                                out_rows * c.vocab_size * sizeof(float),
                                                cudaMemcpyDeviceToHost, stream_));
  }
  HECATE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  for (size_t i = 1; i < marks_.size(); ++i) {
    float ms = 0;
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, events_[i - 1], events_[i]));
    profile_ms_[marks_[i]] += ms;
  }
  return absl::OkStatus();
}

}  // namespace hecate
