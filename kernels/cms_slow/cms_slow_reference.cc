#include "kernels/cms_slow/cms_slow_reference.h"

#include <vector>

namespace hecate {
namespace reference {

void CmsLevelHead(const CmsHeadInputs& in, double* m, double* s, double* g, double* y,
                  size_t y_stride) {
  const int d = in.dim;
  const size_t dd = size_t(d) * d;
  std::vector<double> err(d);
  for (int t = 0; t < in.tokens; ++t) {
    const double* q = in.q + t * in.qkv_stride;
    const double* k = in.k + t * in.qkv_stride;
    const double* v = in.v + t * in.qkv_stride;
    const double alpha = in.alpha[t * in.gate_stride];
    const double theta = in.theta[t * in.gate_stride];
    if (in.period == 1) {
      for (size_t i = 0; i < dd; ++i) m[i] *= alpha;
      for (int i = 0; i < d; ++i) {
        double mk = 0;
        for (int j = 0; j < d; ++j) mk += m[i * d + j] * k[j];
        err[i] = mk - v[i];
      }
      for (int i = 0; i < d; ++i) {
        for (int j = 0; j < d; ++j) m[i * d + j] -= theta * err[i] * k[j];
      }
    } else {
      // The error uses M as it is before this token (M only moves at fires).
      for (int i = 0; i < d; ++i) {
        double mk = 0;
        for (int j = 0; j < d; ++j) mk += m[i * d + j] * k[j];
        err[i] = theta / in.period * (mk - v[i]);
      }
      for (int i = 0; i < d; ++i) {
        for (int j = 0; j < d; ++j) g[i * d + j] += err[i] * k[j];
      }
      const uint64_t pulse = in.first_pulse + uint64_t(t);
      if ((pulse + 1) % uint64_t(in.period) == 0) {
        const double eta = in.eta[t * in.gate_stride];
        for (size_t i = 0; i < dd; ++i) {
          s[i] = eta * s[i] - g[i];
          m[i] = alpha * m[i] + s[i];
          g[i] = 0;
        }
      }
    }
    double* yt = y + t * y_stride;
    for (int i = 0; i < d; ++i) {
      double acc = 0;
      for (int j = 0; j < d; ++j) acc += m[i * d + j] * q[j];
      yt[i] = acc;
    }
  }
}

}  // namespace reference
}  // namespace hecate
