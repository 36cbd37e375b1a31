#include "kernels/swa_prefill/swa_prefill_reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace hecate {
namespace reference {

void SwaPrefillHead(const SwaHeadInputs& in, double* ring_k, double* ring_v, double* out,
                    size_t out_stride) {
  const int d = in.dim;
  const uint64_t w = uint64_t(in.window);
  std::vector<double> score(in.window);
  for (int t = 0; t < in.tokens; ++t) {
    const uint64_t pos = in.first_pulse + uint64_t(t);
    const size_t slot = size_t(pos % w);
    std::copy_n(in.k + t * in.qkv_stride, d, ring_k + slot * d);
    std::copy_n(in.v + t * in.qkv_stride, d, ring_v + slot * d);
    const uint64_t n = std::min<uint64_t>(w, pos + 1);
    const uint64_t oldest = pos + 1 - n;
    const double* q = in.q + t * in.qkv_stride;
    double max_score = -INFINITY;
    for (uint64_t i = 0; i < n; ++i) {
      const double* key = ring_k + size_t((oldest + i) % w) * d;
      double dot = 0;
      for (int c = 0; c < d; ++c) dot += q[c] * key[c];
      score[i] = dot * in.scale;
      max_score = std::max(max_score, score[i]);
    }
    double total = 0;
    for (uint64_t i = 0; i < n; ++i) total += (score[i] = std::exp(score[i] - max_score));
    double* o = out + t * out_stride;
    std::fill(o, o + d, 0.0);
    for (uint64_t i = 0; i < n; ++i) {
      const double* value = ring_v + size_t((oldest + i) % w) * d;
      for (int c = 0; c < d; ++c) o[c] += score[i] / total * value[c];
    }
  }
}

}  // namespace reference
}  // namespace hecate
