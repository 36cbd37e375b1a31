// The CPU reference forward pass over one chunk of tokens (docs/MODEL.md
// section 2), advancing a ModelState in place.
//
// Projections and the MLP are matrix products over the chunk. Attention and
// level-1 memory (the gated delta rule) run token by token per head. Slower
// CMS levels hold M fixed between fire points, so each span between fire
// points is computed with matrix products (errors E = K M^T - V, the error
// buffer G += (c E)^T K, reads Y = Q M^T); `slow_levels_as_matmul = false`
// selects the token-by-token loop instead, which tests compare against.
// One-token chunks (decode) always take the loop: the same products, without
// transposing M.
#ifndef HECATE_BACKENDS_CPU_FORWARD_H_
#define HECATE_BACKENDS_CPU_FORWARD_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "runtime/model.h"
#include "runtime/model_state.h"

namespace hecate::cpu {

struct ForwardOptions {
  bool slow_levels_as_matmul = true;
};

// Precomputed per model: the transposed embedding for the tied head and
// RoPE's inverse frequencies.
struct ForwardConstants {
  explicit ForwardConstants(const Model& model);
  std::vector<float> embed_t;  // [D, V]
  std::vector<double> rope_inv_freq;  // [head_dim / 2]
};

// A pass's scratch that its owner keeps between passes: sized for the
// longest pass it served (passes over ~8 M floats of scratch take their
// own), never zeroed (every stage writes what a later one reads), so a
// step does not allocate, zero-fill and fault in fresh pages. One pass at a
// time.
class ForwardScratch {
 public:
  ForwardScratch();
  ~ForwardScratch();
  ForwardScratch(const ForwardScratch&) = delete;
  ForwardScratch& operator=(const ForwardScratch&) = delete;

  struct Buffers;  // forward.cc's
  Buffers& buffers() { return *buffers_; }

 private:
  std::unique_ptr<Buffers> buffers_;
};

// Advances `state` by `tokens` (non-empty). When `logits` is non-null, writes
// the logits of the last `logit_rows` tokens there ([logit_rows, V]).
// `scratch` may be null (the pass allocates its own).
void ForwardChunk(const Model& model, const ForwardConstants& constants,
                  const ForwardOptions& options, ModelState& state,
                  absl::Span<const uint8_t> tokens, int64_t logit_rows, float* logits,
                  ForwardScratch* scratch = nullptr);

// One chunk of one session, for ForwardChunks.
struct ChunkItem {
  ModelState* state;
  absl::Span<const uint8_t> tokens;  // non-empty
  int64_t logit_rows;
  float* logits;  // [logit_rows, V], or null
};

// Several sessions' chunks (distinct states) in one pass: the row-wise
// stages (norms, projections, MLP, the tied head) run once over all items'
// rows stacked, so each weight matrix streams once a step rather than once
// an item; the mixers run per (item, head). Each item gets bit for bit what
// ForwardChunk gives it alone (a row's products do not depend on the rows
// beside it: gemm.h).
void ForwardChunks(const Model& model, const ForwardConstants& constants,
                   const ForwardOptions& options, absl::Span<const ChunkItem> items,
                   ForwardScratch* scratch = nullptr);

}  // namespace hecate::cpu

#endif  // HECATE_BACKENDS_CPU_FORWARD_H_
