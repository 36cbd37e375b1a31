// ForwardEngine: enqueues HecateLM's forward pass (docs/MODEL.md section 2)
// on the device for `batch` sessions x `tokens` tokens each, and waits for it.
//
// Per layer: rmsnorm -> one GEMM for the attention, memory and gate
// projections -> MixerPrep (RoPE, memory activations, gates) -> sliding-
// window attention (decode kernel for one token, prefill kernel otherwise)
// -> level-1 gated delta rule (decode or chunked prefill kernel; the row
// kernel of kernels/cms_slow for head widths the chunked one lacks) -> slow
// CMS levels (decode: the ring kernel, appending to the error buffers'
// rings, state_ring.h; chunks: the span-wise kernel, after Step folds the
// rings into G) -> MAG
// gate -> Wo GEMM with the residual -> rmsnorm -> W1|W3 GEMM -> SwiGLU ->
// W2 GEMM with the residual. Then the final norm and the tied-
// embedding logits GEMM for the requested rows only.
//
// GEMMs are cuBLAS float32 (CUBLAS_DEFAULT_MATH) unless `gemm` says
// otherwise: kTf32 runs them on TF32 tensor cores (CUBLAS_TF32_TENSOR_OP_MATH),
// and a chunk's sliding-window attention and slow-level span products in
// one TF32 pass too (3xTF32 in every other mode: SwaPrefillParams::tf32,
// CmsSlowParams::tf32),
// k3xTf32 runs the layers' many-row products as three TF32 tensor-core GEMMs
// on the operands' TF32 splits, C = A_lo W_hi + A_hi W_lo + A_hi W_hi
// (small terms first; kernels/tf32_split): each product of TF32 values is
// exact with fp32 sums, so only A_lo W_lo (~2^-22 relative) is lost and the
// fp32 tolerance holds. A step splits its GEMM input into the workspace as
// one [2M, K] buffer (hi rows, then lo rows); the weights' splits are made at
// load (device_weights.h). Steps of up to max_3xtf32_stack_rows rows stack
// the two products that share W_hi: one GEMM [A_hi; A_lo] W_hi into a
// [2M, N] scratch, one A_hi W_lo into C (the caller's beta), then
// C = (C + P_lo) + P_hi (kernels/tf32_split's AddTf32Products, stage "tf32
// add"): W is read twice a step instead of three times, and the W_hi GEMM has
// twice the rows to fill the GPU with (decode B=256: three GEMMs of M=256
// were no faster than fp32). Longer steps keep the three GEMMs: they fill
// the GPU already and the scratch would grow with them. Steps of fewer than
// min_3xtf32_rows rows run plain fp32 SGEMM (memory-bound there: it reads W
// once; same accuracy). The logits GEMM and one-row products stay fp32 too.
// Decode steps of at most 4 rows (8 with bf16 weights) instead take
// kernels/gemv_decode's GEMVs with the norms, MixerPrep, MAG, SwiGLU and the
// residuals fused in (7 launches a layer), attention starting during the
// q/k/v GEMV. In every step the delta rule and the slow levels run beside
// attention on branch streams. HECATE_DECODE_* and HECATE_CHUNK_BRANCHES in
// the environment switch these off for comparisons, as
// HECATE_3XTF32_MIN_ROWS and HECATE_3XTF32_STACK_ROWS override the 3xtf32
// limits below (forward_engine_layer.cc).
//
// With `weights` kBf16 the layers' matrices are stored as bf16
// (device_weights.h): the decode GEMVs read them as such (half the bytes),
// and a GEMM first widens its matrix into one shared fp32 buffer
// (kernels/bf16_dequant), then runs unchanged, fp32 or tf32 alike; 3xtf32
// then splits the activations only (A_lo W + A_hi W: a widened bf16 value is
// TF32 already).
// Activations, sums and state stay fp32.
// Not thread-safe: the owning backend serialises calls.
#ifndef HECATE_BACKENDS_CUDA_FORWARD_ENGINE_H_
#define HECATE_BACKENDS_CUDA_FORWARD_ENGINE_H_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "backends/cuda/device_weights.h"
#include "backends/cuda/state_ring.h"
#include "backends/cuda/step_workspace.h"
#include "runtime/backend.h"
#include "runtime/model.h"

namespace hecate {

struct ForwardEngineOptions {
  // The many-row GEMMs' math (runtime/backend.h; above).
  GemmMode gemm = GemmMode::kFp32;
  // How the layers' matrices are stored (runtime/backend.h); combines with
  // every gemm mode (its GEMMs on the widened bf16 values).
  WeightFormat weights = WeightFormat::kFp32;
  // 3xtf32 only (above): steps of fewer rows run fp32 SGEMM, which reads
  // each weight once where the split GEMMs read it twice (decode B=64 on an
  // H200: 3.16 ms fp32, 3.68 ms three-GEMM 3xtf32). Environment override:
  // HECATE_3XTF32_MIN_ROWS.
  int min_3xtf32_rows = 128;
  // 3xtf32 only: steps of at most this many rows stack the W_hi products
  // (above). The limit bounds the scratch, 2 x min(max_rows, this) x
  // max(proj, 2F, D) floats (base config: 51 MB at 1024): stacking trades
  // one read of W (K x N) for writing and reading back the [2M, N]
  // products, a traffic gain below ~K/2 rows, while past a few hundred rows
  // the GEMMs are compute-bound and fill the GPU on their own (prefill
  // T=2048 keeps three GEMMs). 0: never stack. Environment override:
  // HECATE_3XTF32_STACK_ROWS.
  int max_3xtf32_stack_rows = 1024;
  int max_rows = 2048;            // sessions x tokens per step
  int max_batch = 256;            // sessions per step
  // Sessions per step when each has several tokens (grouped prefill); sizes
  // the delta rule's chunk scratch with max_rows.
  int max_prefill_batch = 16;
  bool poison_scratch = false;    // tests: NaN-fill the scratch before each step
  // Decode steps (one token per session) are captured once per batch-size
  // bucket into a CUDA graph and replayed: the per-call table lives at fixed
  // device addresses, so one graph serves any sessions and pulse ids. A
  // batch between buckets is padded with rows on a scratch state
  // (DecodeBucket), so a serving loop whose batch changes every step
  // replays at most 64 graphs instead of capturing one per size.
  bool decode_graphs = true;
  // Chunks advance the slow CMS levels span-wise between fire points
  // (kernels/cms_slow/cms_span_tile_kernel.cu on tensor cores at d 64 and
  // 128, cms_span_kernel.cu otherwise); false keeps the token-by-token
  // row kernel for every chunk, which benchmarks compare against.
  bool cms_spans = true;
  // Decode steps keep the slow levels' error buffers as rings (StateRing,
  // state_ring.h); states then need state_bytes(), not the canonical size.
  // HECATE_DECODE_DENSE_G=1 in the environment turns it off everywhere.
  bool decode_ring = true;
};

// The batch a decode graph of `batch` sessions runs at: exact up to 16,
// then rounded up to 1/16 to 1/8 of the octave (8 buckets per doubling; at
// most 12.5% of the rows padding), never past `max_batch`.
int DecodeBucket(int batch, int max_batch);

class ForwardEngine {
 public:
  // Uses the current CUDA device.
  static absl::StatusOr<std::unique_ptr<ForwardEngine>> Create(
      std::shared_ptr<const Model> model, const ForwardEngineOptions& options);
  ~ForwardEngine();
  ForwardEngine(const ForwardEngine&) = delete;
  ForwardEngine& operator=(const ForwardEngine&) = delete;

  // Advances the sessions whose state buffers are `states` (StateLayout
  // order and ring(): ring().state_bytes() each; pulse ids `pulses`) by `tokens` (session-major, `tokens_per_
  // session` each) and, unless `rows` is kNone, copies the logits to
  // `logits` on the host: kLast gives [batch, V], kAll [batch * tokens, V]
  // session-major. Returns after the device has finished. Pulse ids
  // are the caller's to advance. On a CUDA error the states are undefined.
  absl::Status Step(absl::Span<float* const> states, absl::Span<const uint64_t> pulses,
                    absl::Span<const uint8_t> tokens, int tokens_per_session, LogitsMode rows,
                    float* logits);

  // The most sessions one Step may advance by `tokens_per_session` tokens
  // each (0 when one session's tokens already exceed the scratch).
  int MaxBatch(int tokens_per_session) const;

  // Benchmarks: with profiling on, steps run without graphs and record an
  // event after each stage; profile_ms() sums the stage times (ms) since
  // the last ClearProfile().
  void set_profiling(bool on) { profiling_ = on; }
  const std::map<std::string, double>& profile_ms() const { return profile_ms_; }
  void ClearProfile() { profile_ms_.clear(); }

  const DeviceWeights& weights() const { return weights_; }
  // The options in effect (HECATE_3XTF32_* environment overrides applied).
  const ForwardEngineOptions& options() const { return options_; }
  // The rings' place in a state and their fold; a state of this engine
  // allocates ring().state_bytes() and is reset or folded by it.
  const StateRing& ring() const { return ring_; }
  cudaStream_t stream() const { return stream_; }

 private:
  // Offsets (floats) of one layer's state tensors from a state's base.
  struct LayerStateOffsets {
    std::vector<size_t> m, s, g;  // per level (g: 0 for period 1)
    size_t ring_k = 0, ring_v = 0;
  };

  ForwardEngine(std::shared_ptr<const Model> model, const ForwardEngineOptions& options,
                DeviceWeights weights, StepWorkspace workspace);
  // Enqueues the whole step (logits into the workspace) on stream_.
  absl::Status Enqueue(int batch, int tokens, LogitsMode rows);
  absl::Status Layer(int layer, int batch, int tokens);
  // The replayable decode graph for `batch` sessions (built on first use).
  absl::StatusOr<cudaGraphExec_t> DecodeGraph(int batch, LogitsMode rows);
  // The streams and events of Layer's branches (attention, the delta rule
  // and the slow levels side by side); made with the engine.
  absl::Status CreateBranches();
  // Records the end of stage `name` when profiling.
  absl::Status Mark(const char* name);
  // Row-major C[rows, n] = A[rows, k] @ B[k, n] + beta * C.
  absl::Status Gemm(int rows, int n, int k, const float* a, int lda, const float* b, int ldb,
                    float* c, int ldc, float beta);
  // Gemm on TF32 tensor cores (CUBLAS_COMPUTE_32F_FAST_TF32), whatever the
  // handle's math mode: exact products when A and B are TF32 values.
  absl::Status Tf32Gemm(int rows, int n, int k, const float* a, int lda, const float* b,
                        int ldb, float* c, int ldc, float beta);
  // `options` with the HECATE_3XTF32_* environment overrides applied (read
  // once per process, like the decode switches).
  static ForwardEngineOptions WithEnvironment(ForwardEngineOptions options);
  // Row-major C[rows, w.cols] = A @ W + beta * C for a weight matrix in
  // either format (bf16: widened into widened_ first); 3xtf32 steps of at
  // least min_3xtf32_rows rows go through Split3xTf32Gemm. Marks the end of
  // the products as stage `stage` (the stacked form's add: "tf32 add").
  absl::Status MatrixGemm(int rows, const float* a, int lda, const DeviceMatrix& w, float* c,
                          int ldc, float beta, const char* stage);
  // MatrixGemm's 3xtf32 form: A split into ws_.tf32_split, then the parts'
  // products, stacked or as three GEMMs (above). `b` is W in fp32 (bf16
  // weights: widened; its TF32 split is then W itself).
  absl::Status Split3xTf32Gemm(int rows, const float* a, int lda, const DeviceMatrix& w,
                               const float* b, float* c, int ldc, float beta,
                               const char* stage);

  std::shared_ptr<const Model> model_;
  ForwardEngineOptions options_;
  DeviceWeights weights_;
  StepWorkspace ws_;
  std::vector<LayerStateOffsets> offsets_;
  StateRing ring_;
  int delta_level_ = -1;  // level with period 1, or -1
  bool chunked_delta_rule_ = false;  // kernels/gdr_prefill covers the head width
  int multiprocessors_ = 1;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  DeviceBuffer<char> cublas_workspace_;  // fixed, so GEMMs can be captured
  // bf16 weights: the fp32 copy of the matrix a GEMM is about to read
  // (DeviceWeights::max_matrix_elements; empty for fp32 weights).
  DeviceBuffer<float> widened_;
  // The state the padding rows of a bucketed decode graph read and write
  // (garbage: rows never mix, and their logits are not copied out).
  DeviceBuffer<float> padding_state_;
  std::map<std::pair<int, int>, cudaGraphExec_t> decode_graphs_;
  cudaStream_t branch_streams_[2] = {nullptr, nullptr};
  cudaEvent_t branch_events_[3] = {nullptr, nullptr, nullptr};  // fork, two joins
  bool profiling_ = false;
  std::vector<cudaEvent_t> events_;
  std::vector<const char*> marks_;
  std::map<std::string, double> profile_ms_;
};

}  // namespace hecate

#endif  // HECATE_BACKENDS_CUDA_FORWARD_ENGINE_H_
