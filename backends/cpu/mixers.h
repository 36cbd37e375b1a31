// The two sequence mixers of a HecateLM layer, per head, over one chunk:
// sliding-window attention on the ring and the continuum memory system.
// Internal to the CPU reference backend (backends/cpu/forward.cc).
#ifndef HECATE_BACKENDS_CPU_MIXERS_H_
#define HECATE_BACKENDS_CPU_MIXERS_H_

#include <cstdint>

#include "runtime/conductor.h"
#include "runtime/model_config.h"

namespace hecate::cpu {

// Views of one chunk's per-token activations for one layer. Row t of a
// [T, D]-shaped buffer starts at t * stride; head h occupies [h*d, (h+1)*d).
struct ChunkActivations {
  int64_t tokens;
  uint64_t first_pulse;
  float* q;              // attention queries (RoPE applied in place)
  float* k;              // attention keys (RoPE applied in place)
  const float* v;        // attention values
  int64_t qkv_stride;    // floats between rows of q/k/v
  float* mq;             // memory queries, keys, values (activated in place)
  float* mk;
  float* mv;
  const float* gates;    // [T, 3 * levels * H] pre-sigmoid
  int64_t gate_stride;
  const float* rope_cos;  // [T, d/2] RoPE cosines of each token's position
  const float* rope_sin;  // [T, d/2]
  float* attn_out;       // [T, D] written
  float* mem_out;        // [T, D] written: c * sum_j y_j
};

// Attention for head h over all tokens of the chunk; updates the ring.
void AttentionHead(const ModelConfig& config, int h, const ChunkActivations& act,
                   float* ring_k, float* ring_v);

// Memory branch for head h over all tokens: activates mq/mk/mv of head h,
// advances every level's M, S, G of this head, writes mem_out.
struct LevelState {
  float* m;  // [d, d] of this head
  float* s;
  float* g;  // nullptr when the period is 1
};
void MemoryHead(const ModelConfig& config, const Conductor& conductor, int h,
                const ChunkActivations& act, LevelState* levels, bool slow_levels_as_matmul);

}  // namespace hecate::cpu

#endif  // HECATE_BACKENDS_CPU_MIXERS_H_
