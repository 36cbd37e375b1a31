#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/mixers.h"
#include "backends/cpu/ops.h"

namespace hecate::cpu {

void AttentionHead(const ModelConfig& config, int h, const ChunkActivations& act,
                   float* ring_k, float* ring_v) {
  const int64_t d = config.head_dim(), w = config.window;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  std::vector<float> scores(w);
  for (int64_t t = 0; t < act.tokens; ++t) {
    const uint64_t pos = act.first_pulse + t;
    float* q = act.q + t * act.qkv_stride + h * d;
    float* k = act.k + t * act.qkv_stride + h * d;
    const float* v = act.v + t * act.qkv_stride + h * d;
    const float* cos = act.rope_cos + t * (d / 2);
    const float* sin = act.rope_sin + t * (d / 2);
    ApplyRope(q, d, cos, sin);
    ApplyRope(k, d, cos, sin);
    const int64_t slot = static_cast<int64_t>(pos % w);
    std::copy(k, k + d, ring_k + slot * d);
    std::copy(v, v + d, ring_v + slot * d);
    // Positions pos-n+1 .. pos, oldest first.
    const int64_t n = static_cast<int64_t>(std::min<uint64_t>(w, pos + 1));
    const uint64_t oldest = pos + 1 - n;
    float max_score = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = static_cast<int64_t>((oldest + i) % w);
      scores[i] = Dot(q, ring_k + s * d, d) * scale;
      max_score = std::max(max_score, scores[i]);
    }
    float total = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      scores[i] = std::exp(scores[i] - max_score);
      total += scores[i];
    }
    float* out = act.attn_out + t * config.d_model + h * d;
    std::fill(out, out + d, 0.0f);
    const float inv_total = 1.0f / total;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t s = static_cast<int64_t>((oldest + i) % w);
      const float p = scores[i] * inv_total;
      const float* vs = ring_v + s * d;
      for (int64_t e = 0; e < d; ++e) out[e] += p * vs[e];
    }
  }
}

}  // namespace hecate::cpu
