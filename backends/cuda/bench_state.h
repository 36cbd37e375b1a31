// BenchState: the session state the backend benchmarks time on: fixed
// pseudo-random values of modest size (never zeros, which can hide work),
// the same for a given seed in every benchmark.
#ifndef HECATE_BACKENDS_CUDA_BENCH_STATE_H_
#define HECATE_BACKENDS_CUDA_BENCH_STATE_H_

#include <cstdint>

#include "runtime/model_config.h"
#include "runtime/model_state.h"

namespace hecate {

inline ModelState BenchState(const ModelConfig& config, uint64_t seed, uint64_t pulse) {
  ModelState s(config);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& v : s.data()) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v = (static_cast<float>(x >> 40) / 16777216.0f - 0.5f) * 0.1f;
  }
  s.set_pulse_id(pulse);
  return s;
}

}  // namespace hecate

#endif  // HECATE_BACKENDS_CUDA_BENCH_STATE_H_
