// cms_slow_kernel.h: the raw launch behind CmsSlow (cms_slow.h).
// Plain C++ so both nvcc and the host compiler read it; no validation here.
#ifndef HECATE_KERNELS_CMS_SLOW_CMS_SLOW_KERNEL_H_
#define HECATE_KERNELS_CMS_SLOW_CMS_SLOW_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace hecate {

inline constexpr int kCmsMaxLevels = 16;

// Which kernel advances the levels. kRows: token by token (the decode
// path, and the only one for a period-1 level). kSpans: span-wise, groups
// of up to 16 tokens between fire points at a time (periods > 1 only).
// kAuto: kSpans from kCmsSpanMinTokens tokens when every period is > 1
// (on an H200 the row kernel was ~1 us faster at T = 2 and 4, the span-wise
// one ~1 us faster at 16 and 1.25-1.45x at 64 and 2048).
enum class CmsSlowPath { kAuto, kRows, kSpans };
inline constexpr int kCmsSpanMinTokens = 8;

// CMS levels of one layer over `tokens` tokens for `batch` sessions x
// `heads` heads, token by token (docs/MODEL.md section 2). Period p > 1:
//   G += (theta / p) (M k - v) k^T
//   if (pulse + 1) % p == 0:  S = eta S - G;  M = alpha M + S;  G = 0
//   y = M q                                   (after any update)
// Period 1 (the gated delta rule; S and G are not touched):
//   M = alpha M;  M -= theta (M k - v) k^T;  y = M q
struct CmsSlowParams {
  int batch = 0;
  int heads = 0;
  int dim = 0;     // d, at most 128
  int tokens = 0;  // the same for every session of the call
  int levels = 0;  // all levels of the model (gate indexing)
  int count = 0;   // levels this call advances, in [1, kCmsMaxLevels]
  int level[kCmsMaxLevels] = {};   // model level index of each
  int period[kCmsMaxLevels] = {};  // its period (>= 1)
  // Floats from each session's state base to the level's M, S, G
  // ([heads, dim, dim] each, row = value index).
  size_t m_offset[kCmsMaxLevels] = {};
  size_t s_offset[kCmsMaxLevels] = {};
  size_t g_offset[kCmsMaxLevels] = {};
  float* const* states = nullptr;   // [batch] device array of state bases
  const uint64_t* pulse = nullptr;  // [batch] pulse id of token 0 (device)
  // Row r = b * tokens + t; head h at r * qkv_stride + h * dim.
  const float* q = nullptr;  // l2-normalised memory queries
  const float* k = nullptr;  // l2-normalised memory keys
  const float* v = nullptr;
  size_t qkv_stride = 0;
  // Activated gates, row r at r * gate_stride, gate (g * levels + j) * heads + h.
  const float* gates = nullptr;
  size_t gate_stride = 0;
  // Reads: level i of this call writes y + i * y_plane + r * heads * dim.
  float* y = nullptr;
  size_t y_plane = 0;
  CmsSlowPath path = CmsSlowPath::kAuto;
};

cudaError_t LaunchCmsSlowKernel(const CmsSlowParams& params, cudaStream_t stream);
// The span-wise kernel (cms_span_kernel.cu); every period must be > 1.
cudaError_t LaunchCmsSpanKernel(const CmsSlowParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_CMS_SLOW_CMS_SLOW_KERNEL_H_
