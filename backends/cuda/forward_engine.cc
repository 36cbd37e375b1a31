#include "backends/cuda/forward_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/cms_slow/cms_slow.h"
#include "kernels/cuda_check.h"
#include "kernels/fused/fused.h"
#include "kernels/gdr_decode/gdr_decode.h"
#include "kernels/gdr_prefill/gdr_prefill.h"
#include "kernels/gdr_prefill/gdr_prefill_kernel.h"
#include "kernels/gemv_decode/gemv_decode.h"
#include "kernels/gemv_decode/gemv_prep.h"
#include "kernels/swa_decode/swa_decode.h"
#include "kernels/swa_prefill/swa_prefill.h"
#include "runtime/model_state.h"

namespace hecate {
namespace {

// The decode path's switches, read once per process from the environment
// (benchmarks compare; unset means the default):
//   HECATE_DECODE_GEMV_ROWS  steps of at most this many rows (default and
//       most kGemvDecodeMaxRows; 0: none) take kernels/gemv_decode's GEMVs
//       with RMSNorm, MixerPrep, MAG, SwiGLU and the residuals fused in,
//       where the shape allows; more rows take cuBLAS and the stages;
//   HECATE_DECODE_PDL=0       those GEMVs without programmatic dependent launch;
//   HECATE_DECODE_PREP=0      the qkv+gates GEMV, then MixerPrep on its own;
//   HECATE_DECODE_BRANCHES=0  attention, the delta rule and the slow levels
//       one after another instead of side by side.
int EnvInt(const char* name, int unset) {
  const char* env = std::getenv(name);
  return env == nullptr ? unset : std::atoi(env);
}
int DecodeGemvRows() {
  static const int rows =
      std::clamp(EnvInt("HECATE_DECODE_GEMV_ROWS", kGemvDecodeMaxRows), 0, kGemvDecodeMaxRows);
  return rows;
}
bool DecodePdl() {
  static const bool on = EnvInt("HECATE_DECODE_PDL", 1) != 0;
  return on;
}
bool DecodePrepFused() {
  static const bool on = EnvInt("HECATE_DECODE_PREP", 1) != 0;
  return on;
}
bool DecodeBranches() {
  static const bool on = EnvInt("HECATE_DECODE_BRANCHES", 1) != 0;
  return on;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ForwardEngine>> ForwardEngine::Create(
    std::shared_ptr<const Model> model, const ForwardEngineOptions& options) {
  const ModelConfig& c = model->config();
  HECATE_ASSIGN_OR_RETURN(DeviceWeights weights, DeviceWeights::Upload(*model));
  HECATE_ASSIGN_OR_RETURN(StepWorkspace ws,
                          StepWorkspace::Create(c, weights.proj_cols(), options.max_rows,
                                                options.max_batch, options.max_prefill_batch));
  std::unique_ptr<ForwardEngine> engine(
      new ForwardEngine(std::move(model), options, std::move(weights), std::move(ws)));

  int device = 0;
  HECATE_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  HECATE_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&engine->multiprocessors_,
                                                     cudaDevAttrMultiProcessorCount, device));
  HECATE_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&engine->stream_, cudaStreamNonBlocking));
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasCreate(&engine->cublas_));
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasSetStream(engine->cublas_, engine->stream_));
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasSetMathMode(
      engine->cublas_, options.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
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

absl::Status ForwardEngine::Gemm(int rows, int n, int k, const float* a, int lda,
                                 const float* b, int ldb, float* c, int ldc, float beta) {
  const float one = 1.0f;
  if (rows == 1) {
    // One row: c = B^T a in column-major terms, a matrix-vector product
    // (cuBLAS's GEMM kernels move the weights far below bandwidth here).
    HECATE_CUBLAS_RETURN_IF_ERROR(
        cublasSgemv(cublas_, CUBLAS_OP_N, n, k, &one, b, ldb, a, 1, &beta, c, 1));
    return absl::OkStatus();
  }
  // Row-major C = A B is column-major C^T = B^T A^T: swap the operands.
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasSgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, n, rows, k, &one,
                                            b, ldb, a, lda, &beta, c, ldc));
  return absl::OkStatus();
}

absl::Status ForwardEngine::Layer(int l, int batch, int tokens) {
  const ModelConfig& c = model_->config();
  const DeviceLayerWeights& w = weights_.layer(l);
  const LayerStateOffsets& o = offsets_[l];
  const int rows = batch * tokens, dm = c.d_model, f = c.d_ff, d = c.head_dim();
  const int heads = c.n_heads, levels = c.levels(), pc = weights_.proj_cols();
  const size_t plane = ws_.plane();
  float* const qa = ws_.act;
  float* const ka = qa + plane;
  float* const va = ka + plane;
  float* const mq = va + plane;
  float* const mk = mq + plane;
  float* const mv = mk + plane;

  // Few rows (decode): out (+)= prologue(in) @ W as one fused GEMV, where
  // the shape allows (GemvDecodeSupports); else the stage and cuBLAS.
  const bool few_rows = rows <= DecodeGemvRows();
  auto gemv = [&](GemvPrologue prologue, int n, int k, const float* in, size_t in_stride,
                  const float* weight, float* out, bool accumulate) {
    GemvDecodeParams g;
    g.rows = rows;
    g.n = n;
    g.k = k;
    g.prologue = prologue;
    g.x = in;
    g.x_stride = in_stride;
    g.w = weight;
    g.ldw = n;
    g.out = out;
    g.out_stride = n;
    g.accumulate = accumulate;
    g.programmatic = DecodePdl();
    return g;
  };
  auto fused = [&](int n, int k, const float* weight) {
    return few_rows && GemvDecodeSupports(rows, n, k, weight, n);
  };

  MixerPrepParams prep;
  prep.batch = batch;
  prep.tokens = tokens;
  prep.heads = heads;
  prep.dim = d;
  prep.levels = levels;
  prep.delta_level = delta_level_;
  prep.pulse = ws_.device_pulse;
  prep.inv_freq = weights_.inv_freq();
  prep.proj = ws_.proj;
  prep.proj_stride = pc;
  prep.gate_bias = w.gate_bias;
  prep.act = ws_.act;
  prep.plane = plane;
  prep.gates = ws_.gates;
  prep.alpha1 = ws_.alpha1;
  prep.theta1 = ws_.theta1;
  // norm -> qkv+gates -> MixerPrep: one launch for few rows (the projection
  // never written), else the fused GEMV or cuBLAS, then MixerPrep.
  GemvPrepParams projected;
  projected.gemv = gemv(GemvPrologue::kRmsNorm, pc, dm, ws_.x, dm, w.proj, ws_.proj, false);
  projected.gemv.gain = w.norm1;
  projected.prep = prep;
  if (few_rows && DecodePrepFused() && GemvPrepSupports(projected)) {
    HECATE_RETURN_IF_ERROR(GemvPrep(projected, stream_));
    HECATE_RETURN_IF_ERROR(Mark("gemv norm+qkv+gates+prep"));
  } else {
    if (fused(pc, dm, w.proj)) {
      HECATE_RETURN_IF_ERROR(GemvDecode(projected.gemv, stream_));
      HECATE_RETURN_IF_ERROR(Mark("gemv norm+qkv+gates"));
    } else {
      HECATE_RETURN_IF_ERROR(
          RmsNorm(RmsNormParams{rows, dm, ws_.x, size_t(dm), w.norm1, ws_.u}, stream_));
      HECATE_RETURN_IF_ERROR(Mark("norm"));
      HECATE_RETURN_IF_ERROR(Gemm(rows, pc, dm, ws_.u, dm, w.proj, pc, ws_.proj, pc, 0.0f));
      HECATE_RETURN_IF_ERROR(Mark("gemm qkv+gates"));
    }
    HECATE_RETURN_IF_ERROR(MixerPrep(prep, stream_));
    HECATE_RETURN_IF_ERROR(Mark("mixer prep"));
  }

  // A decode step of few rows runs attention and the delta rule on their
  // own streams beside the slow levels (three independent latency-bound
  // kernels with disjoint outputs), joined again before the Wo product.
  const bool branches = few_rows && tokens == 1 && !profiling_ &&
                        branch_streams_[0] != nullptr && DecodeBranches();
  cudaStream_t attention_stream = stream_, delta_stream = stream_;
  if (branches) {
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(branch_events_[0], stream_));
    for (cudaStream_t s : branch_streams_) {
      HECATE_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(s, branch_events_[0], 0));
    }
    attention_stream = branch_streams_[0];
    delta_stream = branch_streams_[1];
  }

  // Sliding-window attention (the ring is updated inside).
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  if (tokens == 1) {
    SwaDecodeParams p;
    p.batch = batch;
    p.heads = heads;
    p.dim = d;
    p.window = c.window;
    p.states = ws_.device_states;
    p.k_offset = o.ring_k;
    p.v_offset = o.ring_v;
    p.pulse = ws_.device_pulse;
    p.q = qa;
    p.k = ka;
    p.v = va;
    p.out = ws_.attn;
    p.scale = scale;
    p.splits = SwaDecodeSplits(batch, heads, c.window, multiprocessors_);
    HECATE_RETURN_IF_ERROR(SwaDecode(p, attention_stream));
  } else {
    SwaPrefillParams p;
    p.batch = batch;
    p.heads = heads;
    p.dim = d;
    p.window = c.window;
    p.tokens = tokens;
    p.states = ws_.device_states;
    p.k_offset = o.ring_k;
    p.v_offset = o.ring_v;
    p.pulse = ws_.device_pulse;
    p.q = qa;
    p.k = ka;
    p.v = va;
    p.qkv_stride = dm;
    p.out = ws_.attn;
    p.out_stride = dm;
    p.scale = scale;
    HECATE_RETURN_IF_ERROR(SwaPrefill(p, stream_));
  }

  HECATE_RETURN_IF_ERROR(Mark("attention"));

  // Level 1: the gated delta rule; its reads go to plane delta_level_. For a
  // chunk, head widths the chunked kernel does not cover go through the
  // token-by-token row kernel with the slow levels below.
  const bool delta_in_rows = delta_level_ >= 0 && tokens > 1 && !chunked_delta_rule_;
  if (delta_level_ >= 0 && !delta_in_rows) {
    float* y = ws_.ys + delta_level_ * plane;
    if (tokens == 1) {
      GdrDecodeParams p;
      p.batch = batch;
      p.heads = heads;
      p.dim = d;
      p.states = ws_.device_states;
      p.state_offset = o.m[delta_level_];
      p.q = mq;
      p.k = mk;
      p.v = mv;
      p.alpha = ws_.alpha1;
      p.theta = ws_.theta1;
      p.y = y;
      HECATE_RETURN_IF_ERROR(GdrDecode(p, delta_stream));
    } else {
      GdrPrefillParams p;
      p.batch = batch;
      p.heads = heads;
      p.dim = d;
      p.tokens = tokens;
      p.states = ws_.device_states;
      p.state_offset = o.m[delta_level_];
      p.q = mq;
      p.k = mk;
      p.v = mv;
      p.qkv_stride = dm;
      p.alpha = ws_.alpha1;
      p.theta = ws_.theta1;
      p.gate_stride = heads;
      p.y = y;
      p.workspace = ws_.gdr;
      p.workspace_floats = ws_.gdr_floats;
      HECATE_RETURN_IF_ERROR(GdrPrefill(p, stream_));
    }
  }

  HECATE_RETURN_IF_ERROR(Mark("delta rule"));

  // Slow levels (and the delta rule when delta_in_rows), in one launch.
  // CmsSlow picks the kernel by chunk length: token by token for decode
  // (and whenever the delta rule rides along), span-wise between fire
  // points for a chunk (kernels/cms_slow/cms_span_kernel.cu).
  CmsSlowParams slow;
  slow.batch = batch;
  slow.heads = heads;
  slow.dim = d;
  slow.tokens = tokens;
  slow.levels = levels;
  int first_slow = -1;
  for (int j = 0; j < levels; ++j) {
    if (c.periods[j] == 1 && !delta_in_rows) continue;
    if (first_slow < 0) first_slow = j;
    const int i = slow.count++;
    slow.level[i] = j;
    slow.period[i] = c.periods[j];
    slow.m_offset[i] = o.m[j];
    slow.s_offset[i] = o.s[j];
    slow.g_offset[i] = o.g[j];
  }
  if (slow.count > 0) {
    slow.states = ws_.device_states;
    slow.pulse = ws_.device_pulse;
    slow.q = mq;
    slow.k = mk;
    slow.v = mv;
    slow.qkv_stride = dm;
    slow.gates = ws_.gates;
    slow.gate_stride = 3 * levels * heads;
    // The levels of the call are consecutive, so plane j is level j.
    slow.y = ws_.ys + first_slow * plane;
    slow.y_plane = plane;
    slow.path = options_.cms_spans ? CmsSlowPath::kAuto : CmsSlowPath::kRows;
    // Decode through the rings (Step folded them before any longer step).
    if (tokens == 1 && !delta_in_rows) slow.ring = ring_.Layer(l);
    HECATE_RETURN_IF_ERROR(CmsSlow(slow, stream_));
  }

  const bool spans =  // as CmsSlow picks
      options_.cms_spans && tokens >= kCmsSpanMinTokens && !delta_in_rows && first_slow >= 0;
  const bool ring = tokens == 1 && ring_.enabled();
  HECATE_RETURN_IF_ERROR(Mark(spans ? "cms spans" : ring ? "cms ring" : "cms rows"));
  if (branches) {
    for (int i = 0; i < 2; ++i) {
      HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(branch_events_[1 + i], branch_streams_[i]));
      HECATE_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream_, branch_events_[1 + i], 0));
    }
  }

  // MAG, then h += (a * sigmoid(m)) @ Wo.
  if (fused(dm, dm, w.wo)) {
    GemvDecodeParams g = gemv(GemvPrologue::kMagGate, dm, dm, ws_.attn, dm, w.wo, ws_.x, true);
    g.y = ws_.ys;
    g.y_stride = dm;
    g.y_plane = plane;
    g.levels = levels;
    g.scale = c.memory_scale();
    // After a join the previous kernel in stream_ is not its only input.
    g.programmatic = g.programmatic && !branches;
    HECATE_RETURN_IF_ERROR(GemvDecode(g, stream_));
    HECATE_RETURN_IF_ERROR(Mark("gemv mag+wo"));
  } else {
    HECATE_RETURN_IF_ERROR(MagGate(
        MagGateParams{rows, dm, levels, c.memory_scale(), ws_.attn, ws_.ys, plane}, stream_));
    HECATE_RETURN_IF_ERROR(Mark("mag"));
    HECATE_RETURN_IF_ERROR(Gemm(rows, dm, dm, ws_.attn, dm, w.wo, dm, ws_.x, dm, 1.0f));
    HECATE_RETURN_IF_ERROR(Mark("gemm wo"));
  }

  // SwiGLU MLP with the residual.
  if (fused(2 * f, dm, w.w13)) {
    GemvDecodeParams g =
        gemv(GemvPrologue::kRmsNorm, 2 * f, dm, ws_.x, dm, w.w13, ws_.h13, false);
    g.gain = w.norm2;
    HECATE_RETURN_IF_ERROR(GemvDecode(g, stream_));
    HECATE_RETURN_IF_ERROR(Mark("gemv norm+w1|w3"));
  } else {
    HECATE_RETURN_IF_ERROR(
        RmsNorm(RmsNormParams{rows, dm, ws_.x, size_t(dm), w.norm2, ws_.u}, stream_));
    HECATE_RETURN_IF_ERROR(Mark("norm"));
    HECATE_RETURN_IF_ERROR(
        Gemm(rows, 2 * f, dm, ws_.u, dm, w.w13, 2 * f, ws_.h13, 2 * f, 0.0f));
    HECATE_RETURN_IF_ERROR(Mark("gemm w1|w3"));
  }
  if (fused(dm, f, w.w2)) {
    GemvDecodeParams g = gemv(GemvPrologue::kSwiGlu, dm, f, ws_.h13, 2 * f, w.w2, ws_.x, true);
    HECATE_RETURN_IF_ERROR(GemvDecode(g, stream_));
    return Mark("gemv swiglu+w2");
  }
  HECATE_RETURN_IF_ERROR(SwiGlu(SwiGluParams{rows, f, ws_.h13}, stream_));
  HECATE_RETURN_IF_ERROR(Mark("swiglu"));
  HECATE_RETURN_IF_ERROR(Gemm(rows, dm, f, ws_.h13, 2 * f, w.w2, dm, ws_.x, dm, 1.0f));
  return Mark("gemm w2");
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
  if (branch_streams_[0] != nullptr) return absl::OkStatus();
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
  HECATE_RETURN_IF_ERROR(CreateBranches());  // streams cannot be made while capturing
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
