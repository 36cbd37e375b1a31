// Backend: computes HecateLM's forward pass (docs/MODEL.md section 2).
//
// A backend is bound to one Model. It owns where session state lives while
// the session is resident (host memory for the CPU reference, device memory
// for CUDA) behind BackendState, and copies it to and from the canonical
// host ModelState for residency moves and checkpoints. The session layer
// never branches on the backend.
//
// Atomicity: Forward validates its arguments before it touches the state; a
// validation error leaves the state unchanged. When `cancel` is given and
// becomes true, Forward may stop between tokens and return CANCELLED with a
// prefix applied (`*applied` says how many tokens). Callers that need a chunk
// applied whole or not at all (SessionStore) Download a snapshot first and
// Upload it back on cancellation.
#ifndef HECATE_RUNTIME_BACKEND_H_
#define HECATE_RUNTIME_BACKEND_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "runtime/model.h"
#include "runtime/model_state.h"

namespace hecate {

// How a backend stores the layers' weight matrices (attn.wqkv, mem.wqkv,
// mem.wgate, wo, mlp.w1, mlp.w3, mlp.w2). kBf16 (CUDA only: hecated's
// --weights=bf16) rounds them to bf16 once, at load, to nearest even; the
// embedding (also the logits matrix), the norms and the gate biases stay
// fp32, and so do activations, sums and state. The model, its fingerprint
// and checkpoints are the same in either format; results differ from the
// fp32 weights' by the rounding alone (2-8e-3 relative on random models;
// docs/MODEL.md section 6).
enum class WeightFormat { kFp32, kBf16 };

// "fp32" or "bf16" (ModelInfo.weight_format, benchmark rows, flags).
absl::string_view WeightFormatName(WeightFormat format);
// The inverse of WeightFormatName; INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<WeightFormat> ParseWeightFormat(absl::string_view name);

// How a backend multiplies activations by the layers' matrices in steps of
// many rows (CUDA only: hecated's --gemm). kFp32: float32 products
// (CUBLAS_DEFAULT_MATH). kTf32: TF32 tensor cores on the rounded operands
// (looser tolerance, 3e-3; Backend::tf32()). k3xTf32: TF32 tensor cores on
// each operand split into TF32 hi and lo parts, A_lo W_hi + A_hi W_lo +
// A_hi W_hi, which keeps float32-level accuracy (the fp32 tolerance, 1e-4;
// kernels/tf32_split/tf32_split.h).
enum class GemmMode { kFp32, kTf32, k3xTf32 };

// "fp32", "tf32" or "3xtf32" (ModelInfo.gemm, benchmark rows, flags).
absl::string_view GemmModeName(GemmMode mode);
// The inverse of GemmModeName; INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<GemmMode> ParseGemmMode(absl::string_view name);

// State of one session as the backend keeps it while resident.
class BackendState {
 public:
  virtual ~BackendState() = default;
  virtual uint64_t pulse_id() const = 0;
  // Bytes this state occupies where it lives (device or host).
  virtual size_t resident_bytes() const = 0;
};

enum class LogitsMode {
  kNone,  // only advance the state
  kLast,  // logits of the last token: [V]
  kAll,   // logits of every token: [T, V]
};

// Receives the logits of consecutive tokens of one chunk, a slice at a time,
// for callers that want every token's logits without holding [T, V] floats
// for a long chunk: `rows` is [tokens.size(), V], row i the next-token
// logits after tokens[i]. An error fails the chunk (callers roll it back).
using LogitRowsSink = std::function<absl::Status(absl::Span<const uint8_t> tokens,
                                                 absl::Span<const float> rows)>;

// One session's part of a batched call.
struct ForwardItem {
  BackendState* state = nullptr;
  absl::Span<const uint8_t> tokens;
  LogitsMode mode = LogitsMode::kLast;
  std::vector<float>* logits = nullptr;  // resized by the backend; may be null for kNone
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;  // "cpu" or "cuda"
  virtual const Model& model() const = 0;
  // How the projections multiply (runtime/backend.h's GemmMode).
  virtual GemmMode gemm_mode() const { return GemmMode::kFp32; }
  // True when GEMMs use TF32 on rounded operands (looser tolerance, flagged
  // to clients); false for 3xtf32, which keeps fp32 accuracy.
  bool tf32() const { return gemm_mode() == GemmMode::kTf32; }
  // How the weight matrices are stored (bf16: looser tolerance, flagged to
  // clients).
  virtual WeightFormat weight_format() const { return WeightFormat::kFp32; }
  // The most tokens of one session a forward step takes: Forward splits
  // longer chunks into steps of this size (ForwardInSteps).
  virtual int max_step_tokens() const { return 256; }
  // Bytes one session's state holds where the backend keeps it: the
  // canonical layout, plus whatever faster form the backend adds (CUDA's
  // slow-level rings). What memory budgets count per resident session.
  virtual size_t state_bytes() const { return StateLayout(model().config()).total_bytes(); }

  // A fresh zero state, pulse id 0.
  virtual absl::StatusOr<std::unique_ptr<BackendState>> NewState() = 0;
  // Replaces `state` with `host` (same config). Does not validate values.
  virtual absl::Status Upload(const ModelState& host, BackendState& state) = 0;
  // Copies `state` into `host` (canonical layout, pulse id included).
  virtual absl::Status Download(const BackendState& state, ModelState& host) = 0;
  // Makes `to` an exact copy of `from` (both this backend's states), without
  // leaving the device where the backend has one (forking a session). The
  // default goes through the host (Download, Upload).
  virtual absl::Status Copy(const BackendState& from, BackendState& to);

  // Advances `state` by `tokens` (one pulse per token). Empty tokens with
  // kLast is INVALID_ARGUMENT (there is no last token).
  // If `cancel` becomes true, the backend may stop between tokens and return
  // CANCELLED; `*applied` (when non-null) says how many tokens were applied.
  virtual absl::Status Forward(BackendState& state,
                               absl::Span<const uint8_t> tokens,
                               LogitsMode mode, std::vector<float>* logits,
                               const std::atomic<bool>* cancel = nullptr,
                               size_t* applied = nullptr) = 0;

  // Advances many sessions in one call (decode: one token each; prefill:
  // chunks of different lengths). The default loops over Forward.
  virtual absl::Status ForwardBatch(absl::Span<ForwardItem> items);
};

// What every backend shares around its math, so neither copies it.

// The checks Forward makes before it touches a state: logits requested
// without an output vector, last-token logits of an empty chunk, a token
// outside the model's vocabulary. INVALID_ARGUMENT naming the problem.
absl::Status ValidateForward(const ModelConfig& config, absl::Span<const uint8_t> tokens,
                             LogitsMode mode, const std::vector<float>* logits);

// One step of a backend's forward pass: advances the state by `tokens` and,
// unless `rows` is kNone, writes their logits to `out` (kLast: one row,
// kAll: one row per token).
using ForwardStep = absl::FunctionRef<absl::Status(absl::Span<const uint8_t> tokens,
                                                   LogitsMode rows, float* out)>;

// Runs a validated Forward as steps of at most `max_step_tokens` tokens:
// sizes `*logits` for `mode` ([V] or [T, V]), checks `cancel` before every
// step (CANCELLED saying how far it got) and keeps `*applied` (when non-null)
// at the tokens applied so far.
absl::Status ForwardInSteps(absl::Span<const uint8_t> tokens, LogitsMode mode, int vocab_size,
                            int max_step_tokens, std::vector<float>* logits,
                            const std::atomic<bool>* cancel, size_t* applied, ForwardStep step);

}  // namespace hecate

#endif  // HECATE_RUNTIME_BACKEND_H_
