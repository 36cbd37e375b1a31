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
// of up to 16 tokens between fire points at a time on CUDA cores (periods
// > 1 only). kSpanTiles: the same spans on tensor cores (3xTF32, or one
// TF32 product with `tf32`), 16 rows a block (periods > 1, d of 64 or 128:
// CmsSpanTilesSupport).
// kChunks: windows of kCmsChunkWindow tokens, several spans at once
// (cms_chunk_kernel.cu; where CmsChunksSupport says): the chunked form,
// parity-tested but 2.1-2.5x slower than kSpanTiles on an H200
// (NOTES.md), so only on request.
// kAuto: from kCmsSpanMinTokens tokens when every period is > 1, kSpanTiles
// where it applies, else kSpans (on an H200 the row kernel was ~1 us faster
// at T = 2 and 4, the CUDA-core span-wise one ~1 us faster at 16 and
// 1.25-1.45x at 64 and 2048).
enum class CmsSlowPath { kAuto, kRows, kSpans, kSpanTiles, kChunks };
inline bool CmsSpanTilesSupport(int dim) { return dim == 64 || dim == 128; }
inline constexpr int kCmsChunkWindow = 32;
// Every period p of the call either divides the window and is a multiple
// of 8 (at most window / 8 spans a window) or is a multiple of it (a fire
// only at a window's end), and d is 64 or 128.
inline bool CmsChunksSupport(int dim, int count, const int* periods) {
  if (!CmsSpanTilesSupport(dim)) return false;
  for (int i = 0; i < count; ++i) {
    const int p = periods[i];
    const bool divides = p % 8 == 0 && kCmsChunkWindow % p == 0;
    if (p < 1 || !(divides || p % kCmsChunkWindow == 0)) return false;
  }
  return true;
}
inline constexpr int kCmsSpanMinTokens = 8;

// The compact error buffer of docs/MODEL.md section 3 (decode only). Per
// slow level the canonical G equals the dense G in the state plus
//   sum over the ring's entries of e_t k_t^T,  e_t = theta_t / p (M k_t - v_t),
// so a decode step reads M and appends 2 d floats per head instead of
// reading M and G and writing G. Entry of pulse t sits in slot t % slots.
// Before the token of pulse P the ring holds the last CmsRingCount(P, ...)
// tokens: those since the later of `origin` and the level's last fire, less
// the whole rings already added into G. `origin` (a uint64 in the state) is
// the first pulse the ring may hold; whoever folds the ring into G or
// replaces G (upload, prefill) sets it, so a restored state at any pulse id
// starts with an empty ring.
// A full ring (slots - 1 entries and this token) is added into G; a fire
// consumes G plus the ring; the ring is empty after either.
inline constexpr int kCmsRingMaxSlots = 64;
struct CmsRingParams {
  int slots = 0;             // entries per ring; 0: no ring (dense G)
  size_t origin_offset = 0;  // floats from a state base to the uint64 origin
  size_t k_offset = 0;       // this layer's keys [heads, slots, dim], shared by levels
  size_t e_offset[kCmsMaxLevels] = {};  // level i of the call: [heads, slots, dim]
};

// Entries in a level's ring before the token of pulse `pulse`.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline int CmsRingCount(uint64_t pulse, uint64_t origin, int period, int slots) {
  const uint64_t period_start = pulse - pulse % uint64_t(period);
  const uint64_t start = origin > period_start ? origin : period_start;
  return int((pulse - start) % uint64_t(slots));  // garbage origin: still in range
}

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
  // kSpanTiles' and kChunks' products in one TF32 pass each instead of
  // 3xTF32 (relative error ~1e-3, the --gemm=tf32 tolerance); the other
  // kernels ignore it.
  bool tf32 = false;
  // ring.slots > 0: decode through the ring (tokens == 1, periods > 1).
  CmsRingParams ring;
};

// Folds the rings of `layers` layers into G and sets each state's origin to
// pulse + advance: states[b] with pulse[b] (device arrays), or `one_state`
// with `one_pulse` when states is null. Afterwards the dense G in the state
// is the canonical one. Offsets are layer 0's; layer l adds l times the
// strides.
struct CmsRingFoldParams {
  int batch = 0;
  int layers = 0;
  int heads = 0;
  int dim = 0;
  int count = 0;  // slow levels
  int period[kCmsMaxLevels] = {};
  size_t g_offset[kCmsMaxLevels] = {};
  size_t state_layer_stride = 0;  // floats between layers' canonical tensors
  CmsRingParams ring;
  size_t ring_layer_stride = 0;   // floats between layers' rings
  float* const* states = nullptr;
  const uint64_t* pulse = nullptr;
  float* one_state = nullptr;
  uint64_t one_pulse = 0;
  uint64_t advance = 0;
};

cudaError_t LaunchCmsSlowKernel(const CmsSlowParams& params, cudaStream_t stream);
// The span-wise kernel (cms_span_kernel.cu); every period must be > 1.
cudaError_t LaunchCmsSpanKernel(const CmsSlowParams& params, cudaStream_t stream);
// The span-wise kernel on tensor cores (cms_span_tile_kernel.cu): every
// period > 1 and CmsSpanTilesSupport(dim).
cudaError_t LaunchCmsSpanTileKernel(const CmsSlowParams& params, cudaStream_t stream);
// The chunked form (cms_chunk_kernel.cu): CmsChunksSupport.
cudaError_t LaunchCmsChunkKernel(const CmsSlowParams& params, cudaStream_t stream);
// The ring decode kernel (cms_ring_kernel.cu): tokens == 1, periods > 1.
cudaError_t LaunchCmsRingKernel(const CmsSlowParams& params, cudaStream_t stream);
// The fold, then the origins (cms_ring_kernel.cu).
cudaError_t LaunchCmsRingFold(const CmsRingFoldParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_CMS_SLOW_CMS_SLOW_KERNEL_H_
