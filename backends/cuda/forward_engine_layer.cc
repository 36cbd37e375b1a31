// ForwardEngine's per-layer enqueue (forward_engine.h: the stages of one
// layer, and the projections' GEMV or GEMM) and the decode path's switches.
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "backends/cuda/forward_engine.h"
#include "kernels/bf16_dequant/bf16_dequant.h"
#include "kernels/cms_slow/cms_slow.h"
#include "kernels/cuda_check.h"
#include "kernels/fused/fused.h"
#include "kernels/gdr_decode/gdr_decode.h"
#include "kernels/gdr_prefill/gdr_prefill.h"
#include "kernels/gemv_decode/gemv_decode.h"
#include "kernels/gemv_decode/gemv_prep.h"
#include "kernels/swa_decode/swa_decode.h"
#include "kernels/swa_prefill/swa_prefill.h"
#include "kernels/tf32_split/tf32_split.h"

namespace hecate {
namespace {

// The decode path's switches, read once per process from the environment
// (benchmarks compare; unset means the default):
//   HECATE_DECODE_GEMV_ROWS  steps of at most this many rows (default
//       kDefaultGemvRows with fp32 weights, kGemvDecodeMaxRows with bf16
//       ones, whose other path widens every matrix first; 0: none) take
//       kernels/gemv_decode's GEMVs with RMSNorm, MixerPrep, MAG, SwiGLU and
//       the residuals fused in, where the shape allows; more rows take
//       cuBLAS and the stages;
//   HECATE_DECODE_PDL=0       those GEMVs and attention without programmatic
//       dependent launch;
//   HECATE_DECODE_PREP=0      the qkv+gates GEMV, then MixerPrep on its own;
//   HECATE_DECODE_EARLY_ATTENTION_ROWS  decode steps of at most this many
//       rows (default kEarlyAttentionRows) launch attention as a programmatic
//       dependent of the q/k/v GEMV (its ring reads overlap that GEMV's
//       tail); 0: never;
//   HECATE_DECODE_WO_PDL=0    the MAG+Wo GEMV after the mixers' join without
//       programmatic dependent launch (by default it is attention's
//       dependent: its weights stream while attention finishes);
//   HECATE_DECODE_BRANCHES=0  attention, the delta rule and the slow levels
//       one after another instead of side by side in decode steps;
//   HECATE_DECODE_BRANCH_ROWS decode steps of at most this many rows run
//       them side by side (default: every decode step);
//   HECATE_CHUNK_BRANCHES=0   the same for steps of several tokens a session.
// And the 3xtf32 mode's limits (forward_engine.h), overriding the options
// of every engine in the process, so one binary compares thresholds:
//   HECATE_3XTF32_MIN_ROWS    ForwardEngineOptions::min_3xtf32_rows;
//   HECATE_3XTF32_STACK_ROWS  ForwardEngineOptions::max_3xtf32_stack_rows.
constexpr int kEarlyAttentionRows = 8;
// Where the fused GEMVs stop paying (H200, engine_step_bench, base, two
// interleaved runs): at 4 rows 0.90 ms a step against 1.24 through cuBLAS;
// at 5 even (1.31); at 6, 7, 8 rows they lose (1.37-1.39 / 1.49 / 1.50
// against 1.33 / 1.39 / 1.41-1.43): each weight byte feeds rows x the FMAs
// and shared-memory reads, which cuBLAS's tiles amortise.
constexpr int kDefaultGemvRows = 4;
constexpr int kUnset = -1;
int EnvInt(const char* name, int unset) {
  const char* env = std::getenv(name);
  return env == nullptr ? unset : std::atoi(env);
}
int DecodeGemvRows(WeightFormat format) {
  static const int env = EnvInt("HECATE_DECODE_GEMV_ROWS", kUnset);
  if (env != kUnset) return std::clamp(env, 0, kGemvDecodeMaxRows);
  return format == WeightFormat::kBf16 ? kGemvDecodeMaxRows : kDefaultGemvRows;
}
bool DecodePdl() {
  static const bool on = EnvInt("HECATE_DECODE_PDL", 1) != 0;
  return on;
}
bool DecodeWoPdl() {
  static const bool on = EnvInt("HECATE_DECODE_WO_PDL", 1) != 0;
  return on;
}
bool DecodePrepFused() {
  static const bool on = EnvInt("HECATE_DECODE_PREP", 1) != 0;
  return on;
}
int DecodeEarlyAttentionRows() {
  static const int rows = EnvInt("HECATE_DECODE_EARLY_ATTENTION_ROWS", kEarlyAttentionRows);
  return rows;
}
bool DecodeBranches(int rows) {
  static const bool on = EnvInt("HECATE_DECODE_BRANCHES", 1) != 0;
  static const int max_rows = EnvInt("HECATE_DECODE_BRANCH_ROWS", kUnset);
  return on && (max_rows == kUnset || rows <= max_rows);
}
bool ChunkBranches() {
  static const bool on = EnvInt("HECATE_CHUNK_BRANCHES", 1) != 0;
  return on;
}
// -1 when unset: the options' value stays.
int Env3xTf32MinRows() {
  static const int rows = EnvInt("HECATE_3XTF32_MIN_ROWS", -1);
  return rows;
}
int Env3xTf32StackRows() {
  static const int rows = EnvInt("HECATE_3XTF32_STACK_ROWS", -1);
  return rows;
}

}  // namespace

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

absl::Status ForwardEngine::Tf32Gemm(int rows, int n, int k, const float* a, int lda,
                                     const float* b, int ldb, float* c, int ldc, float beta) {
  const float one = 1.0f;
  // Row-major C = A B is column-major C^T = B^T A^T, as in Gemm.
  HECATE_CUBLAS_RETURN_IF_ERROR(cublasGemmEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, n, rows, k, &one,
                                             b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta, c,
                                             CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F_FAST_TF32,
                                             CUBLAS_GEMM_DEFAULT));
  return absl::OkStatus();
}

ForwardEngineOptions ForwardEngine::WithEnvironment(ForwardEngineOptions options) {
  if (Env3xTf32MinRows() >= 0) options.min_3xtf32_rows = Env3xTf32MinRows();
  if (Env3xTf32StackRows() >= 0) options.max_3xtf32_stack_rows = Env3xTf32StackRows();
  return options;
}

absl::Status ForwardEngine::MatrixGemm(int rows, const float* a, int lda, const DeviceMatrix& w,
                                       float* c, int ldc, float beta, const char* stage) {
  const float* b = w.fp32;
  if (b == nullptr) {
    // bf16 weights: widen this matrix into the shared buffer (exact), then
    // the same product; one stream, so the next matrix waits.
    HECATE_RETURN_IF_ERROR(Bf16ToFp32(w.bf16, w.elements(), widened_.data(), stream_));
    HECATE_RETURN_IF_ERROR(Mark("bf16 widen"));
    b = widened_.data();
  }
  // One row is Gemm's fp32 GEMV: exact already, and bandwidth-bound; below
  // min_3xtf32_rows the fp32 SGEMM, still memory-bound, beats reading W twice.
  if (options_.gemm == GemmMode::k3xTf32 && rows > 1 && rows >= options_.min_3xtf32_rows) {
    return Split3xTf32Gemm(rows, a, lda, w, b, c, ldc, beta, stage);
  }
  HECATE_RETURN_IF_ERROR(Gemm(rows, w.cols, w.rows, a, lda, b, w.ld, c, ldc, beta));
  return Mark(stage);
}

absl::Status ForwardEngine::Split3xTf32Gemm(int rows, const float* a, int lda,
                                            const DeviceMatrix& w, const float* b, float* c,
                                            int ldc, float beta, const char* stage) {
  const int n = w.cols, k = w.rows;
  // Widened bf16 values are TF32 already (8 significant bits): W_hi = W and
  // W_lo = 0, so only the products with W remain.
  const bool bf16 = w.fp32 == nullptr;
  const float* const w_hi = bf16 ? b : w.tf32_hi;
  if (!bf16 && (w.tf32_hi == nullptr || w.tf32_lo == nullptr)) {
    return absl::InternalError("MatrixGemm: 3xtf32 with fp32 weights but no TF32 split");
  }
  // A's TF32 split, packed [2 * rows, k]: hi rows, then lo rows, so that
  // [A_hi; A_lo] is one GEMM operand.
  float* const a_hi = ws_.tf32_split;
  float* const a_lo = a_hi + size_t(rows) * k;
  HECATE_RETURN_IF_ERROR(Tf32SplitRows(a, rows, k, lda, a_hi, a_lo, k, stream_));
  HECATE_RETURN_IF_ERROR(Mark("tf32 split"));
  if (rows <= options_.max_3xtf32_stack_rows && ws_.tf32_products != nullptr) {
    // Stacked: P = [A_hi; A_lo] W_hi in one GEMM of twice the rows (W_hi read
    // once), A_hi W_lo straight into C with the caller's beta, then
    // C = (C + P_lo) + P_hi, the small terms first.
    float* const p_hi = ws_.tf32_products;
    float* const p_lo = p_hi + size_t(rows) * n;
    HECATE_RETURN_IF_ERROR(Tf32Gemm(2 * rows, n, k, a_hi, k, w_hi, w.ld, p_hi, n, 0.0f));
    if (!bf16) {
      HECATE_RETURN_IF_ERROR(Tf32Gemm(rows, n, k, a_hi, k, w.tf32_lo, w.ld, c, ldc, beta));
      beta = 1.0f;  // C now holds the caller's beta C + A_hi W_lo
    }
    HECATE_RETURN_IF_ERROR(Mark(stage));
    HECATE_RETURN_IF_ERROR(AddTf32Products(p_hi, p_lo, n, rows, n, beta, c, ldc, stream_));
    return Mark("tf32 add");
  }
  // Three GEMMs (two for bf16) accumulating in C, smallest first so the
  // large A_hi W_hi lands on the accumulated small ones; the caller's beta
  // on the first.
  HECATE_RETURN_IF_ERROR(Tf32Gemm(rows, n, k, a_lo, k, w_hi, w.ld, c, ldc, beta));
  if (!bf16) {
    HECATE_RETURN_IF_ERROR(Tf32Gemm(rows, n, k, a_hi, k, w.tf32_lo, w.ld, c, ldc, 1.0f));
  }
  HECATE_RETURN_IF_ERROR(Tf32Gemm(rows, n, k, a_hi, k, w_hi, w.ld, c, ldc, 1.0f));
  return Mark(stage);
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

  // Few rows (decode): out (+)= prologue(in) @ W as one fused GEMV (fp32 or
  // bf16 weights, as stored), where the shape allows
  // (GemvDecodeSupportsWeights); else the stage and cuBLAS (MatrixGemm).
  const bool few_rows = rows <= DecodeGemvRows(weights_.format());
  auto gemv = [&](GemvPrologue prologue, const DeviceMatrix& weight, const float* in,
                  size_t in_stride, float* out, bool accumulate) {
    GemvDecodeParams g;
    g.rows = rows;
    g.n = weight.cols;
    g.k = weight.rows;
    g.prologue = prologue;
    g.x = in;
    g.x_stride = in_stride;
    g.weights = weight.bf16 != nullptr ? GemvWeights::kBf16 : GemvWeights::kFp32;
    g.w = weight.fp32;
    g.w_bf16 = weight.bf16;
    g.ldw = weight.ld;
    g.out = out;
    g.out_stride = weight.cols;
    g.accumulate = accumulate;
    g.programmatic = DecodePdl();
    return g;
  };
  auto fused = [&](const GemvDecodeParams& g) {
    return few_rows && GemvDecodeSupportsWeights(g);
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
  projected.gemv = gemv(GemvPrologue::kRmsNorm, w.proj, ws_.x, dm, ws_.proj, false);
  projected.gemv.gain = w.norm1;
  projected.prep = prep;
  if (few_rows && DecodePrepFused() && GemvPrepSupports(projected)) {
    HECATE_RETURN_IF_ERROR(GemvPrep(projected, stream_));
    HECATE_RETURN_IF_ERROR(Mark("gemv norm+qkv+gates+prep"));
  } else {
    if (fused(projected.gemv)) {
      HECATE_RETURN_IF_ERROR(GemvDecode(projected.gemv, stream_));
      HECATE_RETURN_IF_ERROR(Mark("gemv norm+qkv+gates"));
    } else {
      HECATE_RETURN_IF_ERROR(
          RmsNorm(RmsNormParams{rows, dm, ws_.x, size_t(dm), w.norm1, ws_.u}, stream_));
      HECATE_RETURN_IF_ERROR(Mark("norm"));
      HECATE_RETURN_IF_ERROR(
          MatrixGemm(rows, ws_.u, dm, w.proj, ws_.proj, pc, 0.0f, "gemm qkv+gates"));
    }
    HECATE_RETURN_IF_ERROR(MixerPrep(prep, stream_));
    HECATE_RETURN_IF_ERROR(Mark("mixer prep"));
  }

  // Attention, the delta rule and the slow levels read the same prepared
  // activations and write disjoint outputs and state, so they run side by
  // side on three streams, joined again before the Wo product. In decode,
  // attention stays in stream_ right after the q/k/v GEMV (for few rows as
  // its programmatic dependent: its ring reads overlap that GEMV's tail). In
  // a chunk the slow levels are enqueued first: their chain of fire points
  // (a few long blocks) is the layer's longest path, and attention and the
  // delta rule fill the multiprocessors it leaves. Profiling keeps one
  // stream, so each stage's mark times that stage alone.
  const bool branches = !profiling_ && (tokens == 1 ? DecodeBranches(rows) : ChunkBranches());
  cudaStream_t slow_stream = stream_, delta_stream = stream_;
  if (branches) {
    HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(branch_events_[0], stream_));
    for (cudaStream_t s : branch_streams_) {
      HECATE_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(s, branch_events_[0], 0));
    }
    slow_stream = branch_streams_[0];
    delta_stream = branch_streams_[1];
  }

  // Sliding-window attention (the ring is updated inside). The decode and
  // chunk kernels' parameters share these fields.
  auto attention = [&]() -> absl::Status {
    auto common = [&](auto& p) {
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
      p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
    };
    if (tokens == 1) {
      SwaDecodeParams p;
      common(p);
      p.splits = SwaDecodeSplits(batch, heads, c.window, multiprocessors_);
      p.programmatic =
          branches && few_rows && DecodePdl() && batch <= DecodeEarlyAttentionRows();
      HECATE_RETURN_IF_ERROR(SwaDecode(p, stream_));
    } else {
      SwaPrefillParams p;
      common(p);
      p.tokens = tokens;
      p.qkv_stride = dm;
      p.out_stride = dm;
      p.tf32 = options_.gemm == GemmMode::kTf32;  // --gemm=tf32 accepts its tolerance
      HECATE_RETURN_IF_ERROR(SwaPrefill(p, stream_));
    }
    return Mark("attention");
  };

  // Level 1: the gated delta rule; its reads go to plane delta_level_. For a
  // chunk, head widths the chunked kernel does not cover go through the
  // token-by-token row kernel with the slow levels below.
  const bool delta_in_rows = delta_level_ >= 0 && tokens > 1 && !chunked_delta_rule_;
  auto delta_rule = [&]() -> absl::Status {
    if (delta_level_ >= 0 && !delta_in_rows) {
      auto common = [&](auto& p) {
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
        p.y = ws_.ys + delta_level_ * plane;
      };
      if (tokens == 1) {
        GdrDecodeParams p;
        common(p);
        HECATE_RETURN_IF_ERROR(GdrDecode(p, delta_stream));
      } else {
        GdrPrefillParams p;
        common(p);
        p.tokens = tokens;
        p.qkv_stride = dm;
        p.gate_stride = heads;
        p.workspace = ws_.gdr;
        p.workspace_floats = ws_.gdr_floats;
        HECATE_RETURN_IF_ERROR(GdrPrefill(p, delta_stream));
      }
    }
    return Mark("delta rule");
  };

  // Slow levels (and the delta rule when delta_in_rows), in one launch.
  // CmsSlow picks the kernel by chunk length: token by token for decode
  // (and whenever the delta rule rides along), span-wise between fire
  // points for a chunk (kernels/cms_slow/cms_span_tile_kernel.cu, or
  // cms_span_kernel.cu where d has no tensor-core instantiation).
  auto slow_levels = [&]() -> absl::Status {
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
      slow.tf32 = options_.gemm == GemmMode::kTf32;
      // Decode through the rings (Step folded them before any longer step).
      if (tokens == 1 && !delta_in_rows) slow.ring = ring_.Layer(l);
      HECATE_RETURN_IF_ERROR(CmsSlow(slow, slow_stream));
    }
    const bool spans =  // as CmsSlow picks
        options_.cms_spans && tokens >= kCmsSpanMinTokens && !delta_in_rows && first_slow >= 0;
    const bool ring = tokens == 1 && ring_.enabled();
    return Mark(spans ? "cms spans" : ring ? "cms ring" : "cms rows");
  };

  if (branches && tokens > 1) {
    HECATE_RETURN_IF_ERROR(slow_levels());
    HECATE_RETURN_IF_ERROR(delta_rule());
    HECATE_RETURN_IF_ERROR(attention());
  } else {
    HECATE_RETURN_IF_ERROR(attention());
    HECATE_RETURN_IF_ERROR(delta_rule());
    HECATE_RETURN_IF_ERROR(slow_levels());
  }
  if (branches) {
    for (int i = 0; i < 2; ++i) {
      HECATE_CUDA_RETURN_IF_ERROR(cudaEventRecord(branch_events_[1 + i], branch_streams_[i]));
      HECATE_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream_, branch_events_[1 + i], 0));
    }
  }

  // MAG, then h += (a * sigmoid(m)) @ Wo.
  if (GemvDecodeParams g = gemv(GemvPrologue::kMagGate, w.wo, ws_.attn, dm, ws_.x, true);
      fused(g)) {
    g.y = ws_.ys;
    g.y_stride = dm;
    g.y_plane = plane;
    g.levels = levels;
    g.scale = c.memory_scale();
    // After the join too: the delta rule's and the slow levels' kernels are
    // ordinary dependencies (complete before Wo starts); only the one on
    // attention, the previous kernel in stream_, is programmatic, so Wo's
    // weights stream while attention finishes and its wait covers the rest.
    g.programmatic = g.programmatic && (!branches || DecodeWoPdl());
    HECATE_RETURN_IF_ERROR(GemvDecode(g, stream_));
    HECATE_RETURN_IF_ERROR(Mark("gemv mag+wo"));
  } else {
    HECATE_RETURN_IF_ERROR(MagGate(
        MagGateParams{rows, dm, levels, c.memory_scale(), ws_.attn, ws_.ys, plane}, stream_));
    HECATE_RETURN_IF_ERROR(Mark("mag"));
    HECATE_RETURN_IF_ERROR(MatrixGemm(rows, ws_.attn, dm, w.wo, ws_.x, dm, 1.0f, "gemm wo"));
  }

  // SwiGLU MLP with the residual.
  if (GemvDecodeParams g = gemv(GemvPrologue::kRmsNorm, w.w13, ws_.x, dm, ws_.h13, false);
      fused(g)) {
    g.gain = w.norm2;
    HECATE_RETURN_IF_ERROR(GemvDecode(g, stream_));
    HECATE_RETURN_IF_ERROR(Mark("gemv norm+w1|w3"));
  } else {
    HECATE_RETURN_IF_ERROR(
        RmsNorm(RmsNormParams{rows, dm, ws_.x, size_t(dm), w.norm2, ws_.u}, stream_));
    HECATE_RETURN_IF_ERROR(Mark("norm"));
    HECATE_RETURN_IF_ERROR(
        MatrixGemm(rows, ws_.u, dm, w.w13, ws_.h13, 2 * f, 0.0f, "gemm w1|w3"));
  }
  if (GemvDecodeParams g = gemv(GemvPrologue::kSwiGlu, w.w2, ws_.h13, 2 * f, ws_.x, true);
      fused(g)) {
    HECATE_RETURN_IF_ERROR(GemvDecode(g, stream_));
    return Mark("gemv swiglu+w2");
  }
  HECATE_RETURN_IF_ERROR(SwiGlu(SwiGluParams{rows, f, ws_.h13}, stream_));
  HECATE_RETURN_IF_ERROR(Mark("swiglu"));
  return MatrixGemm(rows, ws_.h13, 2 * f, w.w2, ws_.x, dm, 1.0f, "gemm w2");
}


}  // namespace hecate
