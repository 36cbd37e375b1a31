// The continuum memory system for one head over one chunk (MODEL.md
// section 2, memory branch).
#include <algorithm>
#include <vector>

#include "backends/cpu/gemm.h"
#include "backends/cpu/mixers.h"
#include "backends/cpu/ops.h"

namespace hecate::cpu {
namespace {

struct TokenGates {
  float alpha, theta, eta;
};

TokenGates GatesAt(const ModelConfig& config, const ChunkActivations& act, int64_t t, int level,
                   int h) {
  const float* z = act.gates + t * act.gate_stride;
  const int levels = config.levels(), heads = config.n_heads;
  return TokenGates{Sigmoid(z[(0 * levels + level) * heads + h]),
                    Sigmoid(z[(1 * levels + level) * heads + h]),
                    Sigmoid(z[(2 * levels + level) * heads + h])};
}

// out[i] += scale * (M x)_i.
void AddMatVec(const float* m, const float* x, int64_t d, float scale, float* out) {
  for (int64_t i = 0; i < d; ++i) out[i] += scale * Dot(m + i * d, x, d);
}

// Level with period 1: the gated delta rule, token by token.
//   M = alpha M;  M = M - theta (M k - v) k^T;  y = M q.
// (M k) after the decay is alpha (M_old k), so each row needs one dot with k
// on the old values, one update and one dot with q.
void DeltaRuleLevel(const ModelConfig& config, const ChunkActivations& act, int level, int h,
                    float* m, float c) {
  const int64_t d = config.head_dim(), dm = config.d_model;
  for (int64_t t = 0; t < act.tokens; ++t) {
    const TokenGates g = GatesAt(config, act, t, level, h);
    const float* q = act.mq + t * act.qkv_stride + h * d;
    const float* k = act.mk + t * act.qkv_stride + h * d;
    const float* v = act.mv + t * act.qkv_stride + h * d;
    float* y = act.mem_out + t * dm + h * d;
    for (int64_t i = 0; i < d; ++i) {
      float* row = m + i * d;
      const float err = g.alpha * Dot(row, k, d) - v[i];
      const float step = g.theta * err;
      for (int64_t j = 0; j < d; ++j) row[j] = g.alpha * row[j] - step * k[j];
      y[i] += c * Dot(row, q, d);
    }
  }
}

// The pulse: S = eta S - G; M = alpha M + S; G = 0.
void Fire(const TokenGates& g, int64_t d, float* m, float* s, float* grad) {
  for (int64_t i = 0; i < d * d; ++i) {
    s[i] = g.eta * s[i] - grad[i];
    m[i] = g.alpha * m[i] + s[i];
    grad[i] = 0.0f;
  }
}

// Slower level, token by token: G += (theta/p)(M k - v) k^T, fire, y = M q.
void SlowLevelLoop(const ModelConfig& config, const Conductor& conductor,
                   const ChunkActivations& act, int level, int h, const LevelState& st, float c) {
  const int64_t d = config.head_dim(), dm = config.d_model;
  const float inv_period = 1.0f / static_cast<float>(config.periods[level]);
  std::vector<float> err(d);
  for (int64_t t = 0; t < act.tokens; ++t) {
    const TokenGates g = GatesAt(config, act, t, level, h);
    const float* q = act.mq + t * act.qkv_stride + h * d;
    const float* k = act.mk + t * act.qkv_stride + h * d;
    const float* v = act.mv + t * act.qkv_stride + h * d;
    const float coef = g.theta * inv_period;
    for (int64_t i = 0; i < d; ++i) err[i] = coef * (Dot(st.m + i * d, k, d) - v[i]);
    for (int64_t i = 0; i < d; ++i) {
      float* grow = st.g + i * d;
      for (int64_t j = 0; j < d; ++j) grow[j] += err[i] * k[j];
    }
    if (conductor.PulseAt(act.first_pulse + t).fires(level)) Fire(g, d, st.m, st.s, st.g);
    AddMatVec(st.m, q, d, c, act.mem_out + t * dm + h * d);
  }
}

// Slower level, span by span: M is fixed between fire points, so a span's
// errors, its error-buffer update and its reads are matrix products.
void SlowLevelSpans(const ModelConfig& config, const Conductor& conductor,
                    const ChunkActivations& act, int level, int h, const LevelState& st,
                    float c) {
  const int64_t d = config.head_dim(), dm = config.d_model, stride = act.qkv_stride;
  const float inv_period = 1.0f / static_cast<float>(config.periods[level]);
  std::vector<float> mt(d * d), e, et, y;
  int64_t start = 0;
  while (start < act.tokens) {
    const uint64_t fire = conductor.NextFire(level, act.first_pulse + start);
    const bool fires = fire < act.first_pulse + act.tokens;
    const int64_t end = fires ? static_cast<int64_t>(fire - act.first_pulse) + 1 : act.tokens;
    const int64_t n = end - start;
    const float* k = act.mk + start * stride + h * d;
    const float* v = act.mv + start * stride + h * d;
    const float* q = act.mq + start * stride + h * d;
    Transpose(d, d, st.m, d, mt.data(), d);
    // E = K M^T - V, rows scaled by theta_t / p.
    e.resize(n * d);
    GemmSerial(n, d, d, k, stride, mt.data(), d, e.data(), d, /*accumulate=*/false);
    for (int64_t t = 0; t < n; ++t) {
      const float coef = GatesAt(config, act, start + t, level, h).theta * inv_period;
      for (int64_t i = 0; i < d; ++i) e[t * d + i] = coef * (e[t * d + i] - v[t * stride + i]);
    }
    // G += E^T K.
    et.resize(d * n);
    Transpose(n, d, e.data(), d, et.data(), n);
    GemmSerial(d, d, n, et.data(), n, k, stride, st.g, d, /*accumulate=*/true);
    // Reads before the fire use the old M: Y = Q M^T.
    const int64_t reads_old = fires ? n - 1 : n;
    y.resize(n * d);
    GemmSerial(reads_old, d, d, q, stride, mt.data(), d, y.data(), d, /*accumulate=*/false);
    for (int64_t t = 0; t < reads_old; ++t) {
      float* out = act.mem_out + (start + t) * dm + h * d;
      for (int64_t i = 0; i < d; ++i) out[i] += c * y[t * d + i];
    }
    if (fires) {
      Fire(GatesAt(config, act, end - 1, level, h), d, st.m, st.s, st.g);
      AddMatVec(st.m, q + (n - 1) * stride, d, c, act.mem_out + (end - 1) * dm + h * d);
    }
    start = end;
  }
}

}  // namespace

void MemoryHead(const ModelConfig& config, const Conductor& conductor, int h,
                const ChunkActivations& act, LevelState* levels, bool slow_levels_as_matmul) {
  const int64_t d = config.head_dim(), dm = config.d_model;
  for (int64_t t = 0; t < act.tokens; ++t) {
    float* q = act.mq + t * act.qkv_stride + h * d;
    float* k = act.mk + t * act.qkv_stride + h * d;
    float* v = act.mv + t * act.qkv_stride + h * d;
    for (int64_t i = 0; i < d; ++i) {
      q[i] = Silu(q[i]);
      k[i] = Silu(k[i]);
      v[i] = Silu(v[i]);
    }
    L2Normalize(q, d);
    L2Normalize(k, d);
    std::fill(act.mem_out + t * dm + h * d, act.mem_out + t * dm + (h + 1) * d, 0.0f);
  }
  const float c = config.memory_scale();
  for (int j = 0; j < config.levels(); ++j) {
    if (config.periods[j] == 1) {
      DeltaRuleLevel(config, act, j, h, levels[j].m, c);
    } else if (slow_levels_as_matmul && act.tokens > 1) {
      // One token (decode) is one span of one row: the loop does the same
      // products without transposing M (5% of a tiny decode step).
      SlowLevelSpans(config, conductor, act, j, h, levels[j], c);
    } else {
      SlowLevelLoop(config, conductor, act, j, h, levels[j], c);
    }
  }
}

}  // namespace hecate::cpu
