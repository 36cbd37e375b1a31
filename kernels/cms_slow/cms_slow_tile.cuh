// cms_slow_tile.cuh: what the two CMS kernels (cms_slow_kernel.cu, token by
// token; cms_span_kernel.cu, span-wise) share: the block shape (16 lanes own
// one value row of M, S and G; 8 rows per block), the row's registers with
// its fire and final stores (Row), the double-buffered shared-memory tile
// of a chunk's keys, queries, values and gates (ForEachTile), the launch.
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

// Runs body(in, t0, n) for the chunk's tiles of up to `tile` tokens in
// order, each staged with cp.async while the one before is consumed (two
// buffers at `smem`), so a row's recurrence never waits on global memory.
template <typename Body>
__device__ __forceinline__ void ForEachTile(const CmsSlowParams& p, int tile, float* smem, int b,
                                            int h, int row0, int gate_index0,
                                            int gate_stride_kind, Body&& body) {
  const int d = p.dim;
  const size_t buffer_floats = TileFloats(d, tile);
  const int tiles = (p.tokens + tile - 1) / tile;
  StageTile(p, b, h, row0, 0, min(tile, p.tokens), gate_index0, gate_stride_kind,
            View(smem, d, tile));
  CpAsyncCommit();
  for (int i = 0; i < tiles; ++i) {
    const int t0 = i * tile, n = min(tile, p.tokens - t0);
    if (i + 1 < tiles) {
      const int t1 = t0 + tile;
      StageTile(p, b, h, row0, t1, min(tile, p.tokens - t1), gate_index0, gate_stride_kind,
                View(smem + ((i + 1) & 1) * buffer_floats, d, tile));
      CpAsyncCommit();
      CpAsyncWait<1>();
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();
    body(View(smem + (i & 1) * buffer_floats, d, tile), t0, n);
    __syncthreads();  // buffer i & 1 is refilled by the next iteration
  }
}

// What a half-warp holds for its value row i of one (session, level, head):
// the row of M, G and S in registers (columns lane * 4 + 64 e), where they
// live in the state, and the level's place in its period. Grid: x = blocks
// of 8 rows, y = (level of the call, head), z = session.
template <int kVec>
struct Row {
  int lane, half, row0, row, h, s, b, d, width, level, period;
  bool row_ok;
  float* m_row;
  float* s_row;
  float* g_row;
  int col[kVec];
  bool col_ok[kVec];
  float4 m[kVec], g[kVec], sv[kVec];
  int gate_index0;       // gate kind 0 of this level and head; kind g at
  int gate_stride_kind;  // gate_index0 + g * gate_stride_kind
  float* y_level;
  float inv_period;
  int until_fire;      // tokens before the next one at which the level fires
  bool fired = false;  // M and S changed: stored at the end (and S loaded)

  __device__ __forceinline__ explicit Row(const CmsSlowParams& p) {
    lane = threadIdx.x & 15;
    half = threadIdx.x >> 4;
    row0 = blockIdx.x * kRowsPerBlock;
    row = row0 + half;
    h = blockIdx.y % p.heads;
    s = blockIdx.y / p.heads;
    b = blockIdx.z;
    d = p.dim;
    width = p.heads * d;
    row_ok = row < d;
    level = p.level[s];
    period = p.period[s];
    float* base = p.states[b];
    const size_t row_offset = (size_t(h) * d + (row_ok ? row : 0)) * d;
    m_row = base + p.m_offset[s] + row_offset;
    s_row = base + p.s_offset[s] + row_offset;
    g_row = base + p.g_offset[s] + row_offset;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      col[e] = lane * 4 + 64 * e;
      col_ok[e] = col[e] < d;
      m[e] = Load4(m_row + col[e], row_ok && col_ok[e]);
      g[e] = Load4(g_row + col[e], period > 1 && row_ok && col_ok[e]);
      sv[e] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
    gate_index0 = level * p.heads + h;
    gate_stride_kind = p.levels * p.heads;
    y_level = p.y + s * p.y_plane;
    inv_period = 1.0f / float(period);
    until_fire = int(uint64_t(period - 1) - p.pulse[b] % uint64_t(period));
  }

  // The fire of a slow level: S = eta S - G, M = alpha M + S, G = 0.
  // Returns the row's read M_i . q with the new M (q: the token's query).
  __device__ __forceinline__ float Fire(float alpha, float eta, const float* q) {
    float dq = 0.f;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      if (!fired) sv[e] = Load4(s_row + col[e], row_ok && col_ok[e]);
      sv[e] = make_float4(eta * sv[e].x - g[e].x, eta * sv[e].y - g[e].y,
                          eta * sv[e].z - g[e].z, eta * sv[e].w - g[e].w);
      m[e] = make_float4(alpha * m[e].x + sv[e].x, alpha * m[e].y + sv[e].y,
                         alpha * m[e].z + sv[e].z, alpha * m[e].w + sv[e].w);
      g[e] = make_float4(0.f, 0.f, 0.f, 0.f);
      dq = Dot4(m[e], Load4(q + col[e], col_ok[e]), dq);
    }
    fired = true;
    return HalfWarpSum(dq);
  }

  // Writes back G (slow levels), and M and S where they changed.
  __device__ __forceinline__ void Store() const {
    if (!row_ok) return;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      if (!col_ok[e]) continue;
      if (period > 1) Store4(g_row + col[e], g[e]);
      if (fired) {
        Store4(m_row + col[e], m[e]);
        if (period > 1) Store4(s_row + col[e], sv[e]);
      }
    }
  }
};

// Shared memory of a launch: two tile buffers; above the default 48 KiB
// the kernel must opt in first.
template <typename Kernel>
cudaError_t PrepareSharedMemory(Kernel kernel, int dim, int tile, size_t* bytes) {
  *bytes = 2 * TileFloats(dim, tile) * sizeof(float);
  if (*bytes <= 48 * 1024) return cudaSuccess;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(*bytes));
}

// Launches `kernel(p, tile)` over the grid Row describes.
template <typename Kernel>
cudaError_t LaunchOverRows(Kernel kernel, const CmsSlowParams& p, cudaStream_t stream) {
  const int tile = p.tokens < kMaxTile ? p.tokens : kMaxTile;
  size_t smem = 0;
  const cudaError_t err = PrepareSharedMemory(kernel, p.dim, tile, &smem);
  if (err != cudaSuccess) return err;
  const dim3 grid((p.dim + kRowsPerBlock - 1) / kRowsPerBlock, p.heads * p.count, p.batch);
  kernel<<<grid, kThreads, smem, stream>>>(p, tile);
  return cudaGetLastError();
}

}  // namespace cms
}  // namespace hecate

#endif  // HECATE_KERNELS_CMS_SLOW_CMS_SLOW_TILE_CUH_
