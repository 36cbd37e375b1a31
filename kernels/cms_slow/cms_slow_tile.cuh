// cms_slow_tile.cuh: what the two CMS kernels (cms_slow_kernel.cu, token by
// token; cms_span_kernel.cu, span-wise) share: the block shape (16 lanes own
// one value row of M, S and G; 8 rows per block) and the double-buffered
// shared-memory tile of a chunk's keys, queries, values and gates.
// Device code only.
#ifndef HECATE_KERNELS_CMS_SLOW_CMS_SLOW_TILE_CUH_
#define HECATE_KERNELS_CMS_SLOW_CMS_SLOW_TILE_CUH_

#include <cstddef>

#include "kernels/cms_slow/cms_slow_kernel.h"
#include "kernels/cp_async.cuh"

namespace hecate {
namespace cms {

constexpr int kThreads = 128;
constexpr int kRowsPerBlock = kThreads / 16;
constexpr int kMaxTile = 32;  // tokens staged per shared-memory buffer

__device__ __forceinline__ float HalfWarpSum(float x) {
  x += __shfl_xor_sync(0xFFFFFFFFu, x, 8);
  x += __shfl_xor_sync(0xFFFFFFFFu, x, 4);
  x += __shfl_xor_sync(0xFFFFFFFFu, x, 2);
  x += __shfl_xor_sync(0xFFFFFFFFu, x, 1);
  return x;
}

__device__ __forceinline__ float Dot4(float4 a, float4 b, float acc) {
  acc = fmaf(a.x, b.x, acc);
  acc = fmaf(a.y, b.y, acc);
  acc = fmaf(a.z, b.z, acc);
  return fmaf(a.w, b.w, acc);
}

__device__ __forceinline__ float4 Load4(const float* p, bool ok) {
  return ok ? *reinterpret_cast<const float4*>(p) : make_float4(0.f, 0.f, 0.f, 0.f);
}

__device__ __forceinline__ void Store4(float* p, float4 v) {
  *reinterpret_cast<float4*>(p) = v;
}

// One shared-memory buffer: `tile` tokens of keys and queries of head h,
// the values of this block's rows, and this level's three gates.
struct TileView {
  float* k;      // [tile][dim]
  float* q;      // [tile][dim]
  float* v;      // [tile][kRowsPerBlock]
  float* gates;  // [tile][4]: alpha, theta, eta
};

__host__ __device__ inline size_t TileFloats(int dim, int tile) {
  return size_t(tile) * (2 * dim + kRowsPerBlock + 4);
}

__device__ __forceinline__ TileView View(float* base, int dim, int tile) {
  TileView v;
  v.k = base;
  v.q = v.k + tile * dim;
  v.v = v.q + tile * dim;
  v.gates = v.v + tile * kRowsPerBlock;
  return v;
}

// Issues the asynchronous copies of tokens [t0, t0 + n) into `dst`.
__device__ inline void StageTile(const CmsSlowParams& p, int b, int h, int row0, int t0, int n,
                                 int gate_index0, int gate_stride_kind, const TileView& dst) {
  const int d = p.dim, chunks = d / 4;
  for (int idx = threadIdx.x; idx < 2 * n * chunks; idx += kThreads) {
    const int which = idx / (n * chunks), rest = idx % (n * chunks);
    const int t = rest / chunks, c = (rest % chunks) * 4;
    const size_t r = size_t(b) * p.tokens + t0 + t;
    const float* src = (which == 0 ? p.k : p.q) + r * p.qkv_stride + h * d + c;
    CpAsync16((which == 0 ? dst.k : dst.q) + t * d + c, src);
  }
  for (int idx = threadIdx.x; idx < n * kRowsPerBlock; idx += kThreads) {
    const int t = idx / kRowsPerBlock, i = idx % kRowsPerBlock;
    if (row0 + i >= d) continue;
    const size_t r = size_t(b) * p.tokens + t0 + t;
    CpAsync4(dst.v + idx, p.v + r * p.qkv_stride + h * d + row0 + i);
  }
  for (int idx = threadIdx.x; idx < n * 3; idx += kThreads) {
    const int t = idx / 3, g = idx % 3;
    const size_t r = size_t(b) * p.tokens + t0 + t;
    CpAsync4(dst.gates + t * 4 + g,
             p.gates + r * p.gate_stride + gate_index0 + g * gate_stride_kind);
  }
}

// Shared memory of a launch: two tile buffers; above the default 48 KiB
// the kernel must opt in first.
template <typename Kernel>
cudaError_t PrepareSharedMemory(Kernel kernel, int dim, int tile, size_t* bytes) {
  *bytes = 2 * TileFloats(dim, tile) * sizeof(float);
  if (*bytes <= 48 * 1024) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(*bytes));
}

}  // namespace cms
}  // namespace hecate

#endif  // HECATE_KERNELS_CMS_SLOW_CMS_SLOW_TILE_CUH_
