#include "backends/cpu/forward.h"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "backends/cpu/gemm.h"
#include "backends/cpu/mixers.h"
#include "backends/cpu/ops.h"
#include "base/parallel.h"
#include "runtime/conductor.h"

namespace hecate::cpu {

ForwardConstants::ForwardConstants(const Model& model) {
  const ModelConfig& c = model.config();
  embed_t.resize(static_cast<size_t>(c.vocab_size) * c.d_model);
  Transpose(c.vocab_size, c.d_model, model.weights().embed(), c.d_model, embed_t.data(),
            c.vocab_size);
  rope_inv_freq = RopeInverseFrequencies(c.head_dim());
}

namespace {

// Row-wise rmsnorm of x [rows, n] into out.
void RmsNormRows(const float* x, const float* gain, int64_t rows, int64_t n, float* out) {
  ParallelFor(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) RmsNorm(x + r * n, gain, n, out + r * n);
  });
}

// fn(i) for i in [0, n), over the pool in chunks of a few thousand.
template <class Fn>
void ElementwiseRange(int64_t n, const Fn& fn) {
  ParallelFor(n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i);
  });
}

// Scratch for a pass over T rows (ForwardScratch keeps one).
struct Workspace {
  // Each buffer with the floats one row takes in it.
  std::array<std::pair<std::vector<float>*, int64_t>, 12> Parts(const ModelConfig& c) {
    const int64_t dm = c.d_model, half = c.head_dim() / 2;
    return {{{&x, dm}, {&u, dm}, {&qkv_a, 3 * dm}, {&qkv_m, 3 * dm},
             {&gates, 3 * c.levels() * c.n_heads}, {&attn, dm}, {&mem, dm},
             {&hidden1, c.d_ff}, {&hidden3, c.d_ff}, {&rope_cos, half}, {&rope_sin, half},
             {&logits, c.vocab_size}}};
  }
  // Floats a row takes in all.
  int64_t RowFloats(const ModelConfig& c) {
    int64_t n = 0;
    for (const auto& [buffer, per_row] : Parts(c)) n += per_row;
    return n;
  }
  // Makes room for `t` rows of `c`; contents are left as they were.
  void Reserve(const ModelConfig& c, int64_t t) {
    for (const auto& [buffer, per_row] : Parts(c)) {
      if (static_cast<int64_t>(buffer->size()) < t * per_row) buffer->resize(t * per_row);
    }
  }
  std::vector<float> x, u, qkv_a, qkv_m, gates, attn, mem, hidden1, hidden3;
  std::vector<float> rope_cos, rope_sin;  // RoPE angles of each row's position
  std::vector<float> logits;              // the stacked logit rows
};

// ForwardScratch keeps the scratch of passes up to this many floats (a step
// of 256 base rows takes ~4 M); a larger pass has its own, freed after.
constexpr int64_t kKeptWorkspaceFloats = int64_t{8} << 20;

// One layer over every item's rows, stacked: items[i] owns rows
// [row0[i], row0[i + 1]).
void Layer(const Model& model, const ForwardOptions& options, const Conductor& conductor,
           int layer, absl::Span<const ChunkItem> items, const std::vector<int64_t>& row0,
           Workspace& ws) {
  const ModelConfig& c = model.config();
  const LayerWeights& w = model.weights().layer(layer);
  const int64_t dm = c.d_model, f = c.d_ff, n_gates = 3 * c.levels() * c.n_heads;
  const int64_t t = row0.back(), half = c.head_dim() / 2;

  RmsNormRows(ws.x.data(), w.norm1, t, dm, ws.u.data());
  Gemm(t, 3 * dm, dm, ws.u.data(), dm, w.attn_wqkv, 3 * dm, ws.qkv_a.data(), 3 * dm, false);
  Gemm(t, 3 * dm, dm, ws.u.data(), dm, w.mem_wqkv, 3 * dm, ws.qkv_m.data(), 3 * dm, false);
  Gemm(t, n_gates, dm, ws.u.data(), dm, w.mem_wgate, n_gates, ws.gates.data(), n_gates, false);
  for (int64_t r = 0; r < t; ++r) {
    for (int64_t i = 0; i < n_gates; ++i) ws.gates[r * n_gates + i] += w.mem_bgate[i];
  }

  const int64_t d = c.head_dim(), head_state = d * d, ring = static_cast<int64_t>(c.window) * d;
  // Items and heads are independent in both mixers: one task per (item, head).
  const int64_t heads = c.n_heads;
  ParallelFor(static_cast<int64_t>(items.size()) * heads, 1, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const size_t item = static_cast<size_t>(task / heads);
      const int h = static_cast<int>(task % heads);
      ModelState& state = *items[item].state;
      const int64_t r0 = row0[item];
      const ChunkActivations act{
          row0[item + 1] - r0,
          state.pulse_id(),
          ws.qkv_a.data() + r0 * 3 * dm,
          ws.qkv_a.data() + r0 * 3 * dm + dm,
          ws.qkv_a.data() + r0 * 3 * dm + 2 * dm,
          3 * dm,
          ws.qkv_m.data() + r0 * 3 * dm,
          ws.qkv_m.data() + r0 * 3 * dm + dm,
          ws.qkv_m.data() + r0 * 3 * dm + 2 * dm,
          ws.gates.data() + r0 * n_gates,
          n_gates,
          ws.rope_cos.data() + r0 * half,
          ws.rope_sin.data() + r0 * half,
          ws.attn.data() + r0 * dm,
          ws.mem.data() + r0 * dm,
      };
      float* ring_k = state.tensor(layer, StateKind::kWindowKeys, -1);
      float* ring_v = state.tensor(layer, StateKind::kWindowValues, -1);
      AttentionHead(c, h, act, ring_k + h * ring, ring_v + h * ring);
      std::vector<LevelState> levels(c.levels());
      for (int j = 0; j < c.levels(); ++j) {
        float* g = state.tensor(layer, StateKind::kErrorBuffer, j);
        levels[j] = LevelState{state.tensor(layer, StateKind::kMemory, j) + h * head_state,
                               state.tensor(layer, StateKind::kMomentum, j) + h * head_state,
                               g ? g + h * head_state : nullptr};
      }
      MemoryHead(c, conductor, h, act, levels.data(), options.slow_levels_as_matmul);
    }
  });

  // MAG: memory gates attention; h += (a * sigmoid(m)) @ Wo.
  // The elementwise stages (an exp per element) over the pool: run on this
  // thread alone they left the other cores idle for ~6% of a prefill step.
  ElementwiseRange(t * dm, [&](int64_t i) { ws.attn[i] *= Sigmoid(ws.mem[i]); });
  Gemm(t, dm, dm, ws.attn.data(), dm, w.wo, dm, ws.x.data(), dm, /*accumulate=*/true);

  // SwiGLU MLP.
  RmsNormRows(ws.x.data(), w.norm2, t, dm, ws.u.data());
  Gemm(t, f, dm, ws.u.data(), dm, w.w1, f, ws.hidden1.data(), f, false);
  Gemm(t, f, dm, ws.u.data(), dm, w.w3, f, ws.hidden3.data(), f, false);
  ElementwiseRange(t * f, [&](int64_t i) { ws.hidden1[i] = Silu(ws.hidden1[i]) * ws.hidden3[i]; });
  Gemm(t, dm, f, ws.hidden1.data(), f, w.w2, dm, ws.x.data(), dm, /*accumulate=*/true);
}

}  // namespace

struct ForwardScratch::Buffers : Workspace {};

ForwardScratch::ForwardScratch() : buffers_(std::make_unique<Buffers>()) {}
ForwardScratch::~ForwardScratch() = default;

void ForwardChunks(const Model& model, const ForwardConstants& constants,
                   const ForwardOptions& options, absl::Span<const ChunkItem> items,
                   ForwardScratch* scratch) {
  if (items.empty()) return;
  const ModelConfig& c = model.config();
  const int64_t dm = c.d_model, half = c.head_dim() / 2;
  std::vector<int64_t> row0(items.size() + 1, 0);
  for (size_t i = 0; i < items.size(); ++i) {
    row0[i + 1] = row0[i] + static_cast<int64_t>(items[i].tokens.size());
  }
  const int64_t t = row0.back();
  Workspace own;
  Workspace& ws = scratch != nullptr && t * own.RowFloats(c) <= kKeptWorkspaceFloats
                      ? scratch->buffers()
                      : own;
  ws.Reserve(c, t);
  const float* embed = model.weights().embed();
  // Each row's embedding and RoPE angles (which depend only on the position:
  // once per pass for all layers), rows over the pool.
  ParallelFor(t, 16, [&](int64_t r0, int64_t r1) {
    size_t i = static_cast<size_t>(std::upper_bound(row0.begin(), row0.end(), r0) -
                                   row0.begin()) - 1;
    for (int64_t r = r0; r < r1; ++r) {
      while (r >= row0[i + 1]) ++i;
      const uint8_t token = items[i].tokens[r - row0[i]];
      std::copy(embed + token * dm, embed + (token + 1) * dm, ws.x.data() + r * dm);
      RopeAngles(items[i].state->pulse_id() + static_cast<uint64_t>(r - row0[i]),
                 constants.rope_inv_freq, ws.rope_cos.data() + r * half,
                 ws.rope_sin.data() + r * half);
    }
  });
  const Conductor conductor(c.periods);
  for (int l = 0; l < c.n_layers; ++l) {
    Layer(model, options, conductor, l, items, row0, ws);
  }

  // The logits rows of every item, stacked, through the final norm and the
  // tied head at once.
  std::vector<int64_t> logit_rows(items.size(), 0);
  int64_t stacked = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].state->set_pulse_id(items[i].state->pulse_id() +
                                 static_cast<uint64_t>(row0[i + 1] - row0[i]));
    if (items[i].logits != nullptr && items[i].logit_rows > 0) {
      logit_rows[i] = std::min(items[i].logit_rows, row0[i + 1] - row0[i]);
      stacked += logit_rows[i];
    }
  }
  if (stacked == 0) return;
  for (size_t i = 0, at = 0; i < items.size(); ++i) {
    RmsNormRows(ws.x.data() + (row0[i + 1] - logit_rows[i]) * dm, model.weights().norm_f(),
                logit_rows[i], dm, ws.u.data() + at * dm);
    at += logit_rows[i];
  }
  float* const out = ws.logits.data();
  Gemm(stacked, c.vocab_size, dm, ws.u.data(), dm, constants.embed_t.data(), c.vocab_size, out,
       c.vocab_size, false);
  for (size_t i = 0, at = 0; i < items.size(); ++i) {
    std::copy(out + at * c.vocab_size, out + (at + logit_rows[i]) * c.vocab_size,
              items[i].logits);
    at += logit_rows[i];
  }
}

void ForwardChunk(const Model& model, const ForwardConstants& constants,
                  const ForwardOptions& options, ModelState& state,
                  absl::Span<const uint8_t> tokens, int64_t logit_rows, float* logits,
                  ForwardScratch* scratch) {
  const ChunkItem item{&state, tokens, logit_rows, logits};
  ForwardChunks(model, constants, options, absl::MakeConstSpan(&item, 1), scratch);
}

}  // namespace hecate::cpu
