// cms_slow_reference.h: one head of one continuum-memory level over a chunk,
// token by token in double, as docs/MODEL.md section 2 defines it (written
// from the spec, not from the kernel). The parity test (cms_slow_test.cc)
// compares the kernel with it; model_reference_test.cc (kernels/fused)
// proves it against the CPU backend inside the whole forward pass.
//
// Period p > 1, for each token t at pulse id P + t:
//   G += (theta / p) (M k - v) k^T
//   if (P + t + 1) % p == 0:  S = eta S - G;  M = alpha M + S;  G = 0
//   y = M q
// Period 1 (the gated delta rule; S and G are not used):
//   M = alpha M;  M = M - theta (M k - v) k^T;  y = M q
#ifndef HECATE_KERNELS_CMS_SLOW_CMS_SLOW_REFERENCE_H_
#define HECATE_KERNELS_CMS_SLOW_CMS_SLOW_REFERENCE_H_

#include <cstddef>
#include <cstdint>

namespace hecate {
namespace reference {

struct CmsHeadInputs {
  int dim = 0;
  int period = 0;
  uint64_t first_pulse = 0;  // pulse id of token 0
  int tokens = 0;
  // Token t's vectors start at q + t * qkv_stride (dim values each).
  const double* q = nullptr;
  const double* k = nullptr;
  const double* v = nullptr;
  size_t qkv_stride = 0;
  // Token t's gates are alpha[t * gate_stride], theta[...], eta[...].
  const double* alpha = nullptr;
  const double* theta = nullptr;
  const double* eta = nullptr;
  size_t gate_stride = 0;
};

// Advances m, s, g ([dim, dim], row = value index) in place and writes token
// t's read to y + t * y_stride. s and g may be null when period == 1.
void CmsLevelHead(const CmsHeadInputs& in, double* m, double* s, double* g, double* y,
                  size_t y_stride);

}  // namespace reference
}  // namespace hecate

#endif  // HECATE_KERNELS_CMS_SLOW_CMS_SLOW_REFERENCE_H_
