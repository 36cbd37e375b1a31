// Slow CMS levels (period > 1) over a chunk, span-wise: between two fire
// points M is frozen (docs/MODEL.md section 2), so the span's errors
// E = K M^T - V, its reads Y = Q M^T and its error-buffer update
// G += diag(theta / p) E^T K are matrix products with no token-to-token
// dependency; only a fire (S = eta S - G, M = alpha M + S, G = 0) orders
// one span after the other. This is the CPU reference's SlowLevelSpans
// (backends/cpu/memory.cc) done inside one kernel.
//
// Why not cuBLAS per span: at the base config's period 8, a 2048-token
// chunk has 256 spans per layer, each three d x d x 8 products; one launch
// per product would cost far more than the arithmetic. Why not the row
// kernel (cms_slow_kernel.cu): it walks the tokens one at a time, and each
// token's two half-warp reductions sit on one dependency chain, so it is
// latency-bound at a few warps per SM.
//
// Layout as the row kernel (cms_slow_tile.cuh): 16 lanes own one value row
// i of M, S and G in registers, 8 rows per block, keys and queries staged in
// shared memory. Tokens go in groups of up to 16 that never cross a fire
// (a fire may only be a group's last token):
//   1. every lane forms its partial dots M_i . k_u and M_i . q_u for all
//      u of the group (32 independent FMA chains, no shuffles);
//   2. a reduce-scatter over the half-warp (15 shuffle steps for 16 tokens,
//      not 4 per token) leaves lane u with the full (M k_u)_i and (M q_u)_i;
//   3. lane u forms e_u = theta_u / p ((M k_u)_i - v_ui); the half-warp
//      broadcasts the e_u and every lane adds sum_u e_u k_u to its columns
//      of G_i;
//   4. if the group ends at a fire: S, M, G of the row are updated and the
//      last token's read is redone with the new M.
// Summation order differs from the row kernel's, within float rounding.
#include <cstdint>

#include "kernels/cms_slow/cms_slow_kernel.h"
#include "kernels/cms_slow/cms_slow_tile.cuh"
#include "kernels/cp_async.cuh"

namespace hecate {
namespace {

using cms::Dot4;
using cms::HalfWarpSum;
using cms::kMaxTile;
using cms::kRowsPerBlock;
using cms::kThreads;
using cms::Load4;
using cms::StageTile;
using cms::Store4;
using cms::TileFloats;
using cms::View;

constexpr unsigned kFull = 0xFFFFFFFFu;

// One reduce-scatter step over lanes `kW` apart: entries [0, 2 kW) of a and
// b are partial sums of tokens base + j; afterwards entries [0, kW) hold the
// pair's sums of tokens base' + j, where base' = base + (lane & kW). Each lane
// sends the half it gives away and keeps the half it owns.
template <int kW, int kGroup>
__device__ __forceinline__ void ReduceScatterStep(float (&a)[kGroup], float (&b)[kGroup],
                                                  int lane) {
  const bool upper = (lane & kW) != 0;
#pragma unroll
  for (int j = 0; j < kW; ++j) {
    const float send_a = upper ? a[j] : a[j + kW];
    const float keep_a = upper ? a[j + kW] : a[j];
    const float send_b = upper ? b[j] : b[j + kW];
    const float keep_b = upper ? b[j + kW] : b[j];
    a[j] = keep_a + __shfl_xor_sync(kFull, send_a, kW);
    b[j] = keep_b + __shfl_xor_sync(kFull, send_b, kW);
  }
}

// a[u], b[u]: this lane's partial sums for token u of the group. Leaves in
// a[0], b[0] the half-warp's full sums for token lane % kGroup (kGroup 16:
// 15 shuffles per operand; kGroup 8: a plain exchange first, then 7 more).
template <int kGroup>
__device__ __forceinline__ void ReduceScatter(float (&a)[kGroup], float (&b)[kGroup],
                                              int lane) {
  static_assert(kGroup == 8 || kGroup == 16);
  if constexpr (kGroup == 16) {
    ReduceScatterStep<8>(a, b, lane);
  } else {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      a[j] += __shfl_xor_sync(kFull, a[j], 8);
      b[j] += __shfl_xor_sync(kFull, b[j], 8);
    }
  }
  ReduceScatterStep<4>(a, b, lane);
  ReduceScatterStep<2>(a, b, lane);
  ReduceScatterStep<1>(a, b, lane);
}

// One (session, level, head, block of 8 rows) over the whole chunk, in
// groups of up to kGroup tokens. kGroup 8 (periods <= 8, whose spans are
// that short anyway) keeps the group's keys in registers between the dots
// and the G update; kGroup 16 reads them from shared memory again.
template <int kVec, int kGroup>
__device__ __forceinline__ void SpanRows(const CmsSlowParams& p, int tile, float* smem) {
  constexpr bool kKeepKeys = kGroup <= 8;
  const int lane = threadIdx.x & 15, half = threadIdx.x >> 4;
  const int row0 = blockIdx.x * kRowsPerBlock;
  const int row = row0 + half;
  const int h = blockIdx.y % p.heads, s = blockIdx.y / p.heads;
  const int b = blockIdx.z;
  const int d = p.dim, width = p.heads * d;
  const bool row_ok = row < d;
  const int level = p.level[s], period = p.period[s];

  float* base = p.states[b];
  const size_t row_offset = (size_t(h) * d + (row_ok ? row : 0)) * d;
  float* m_row = base + p.m_offset[s] + row_offset;
  float* s_row = base + p.s_offset[s] + row_offset;
  float* g_row = base + p.g_offset[s] + row_offset;

  int col[kVec];
  bool col_ok[kVec];
  float4 m[kVec], g[kVec], sv[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    col[e] = lane * 4 + 64 * e;
    col_ok[e] = col[e] < d;
    m[e] = Load4(m_row + col[e], row_ok && col_ok[e]);
    g[e] = Load4(g_row + col[e], row_ok && col_ok[e]);
    sv[e] = make_float4(0.f, 0.f, 0.f, 0.f);
  }

  const int gate_index0 = level * p.heads + h;
  const int gate_stride_kind = p.levels * p.heads;
  float* y_level = p.y + s * p.y_plane;
  const float inv_period = 1.0f / float(period);
  // Tokens before the next one at which this level fires.
  int until_fire = int(uint64_t(period - 1) - p.pulse[b] % uint64_t(period));
  bool fired = false;

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
    const cms::TileView in = View(smem + (i & 1) * buffer_floats, d, tile);
    // Groups: uniform over the block (one session, one level), so every
    // branch below is taken by all lanes and the shuffles stay full-warp.
    for (int u0 = 0; u0 < n;) {
      const int len = min(min(kGroup, n - u0), until_fire + 1);
      const bool fires = len == until_fire + 1;  // at the group's last token
      const int last = u0 + len - 1;

      // 1. Partial dots of this lane's columns, M frozen over the group.
      // Tokens go four at a time so their loads issue together; past the
      // group's end a slot repeats its last token and is never used.
      float xk[kGroup], xq[kGroup];
      float4 keys[kKeepKeys ? kGroup : 1][kVec];
#pragma unroll
      for (int u4 = 0; u4 < kGroup; u4 += 4) {
#pragma unroll
        for (int u = u4; u < u4 + 4; ++u) {
          xk[u] = 0.f;
          xq[u] = 0.f;
        }
        if (u4 < len) {
#pragma unroll
          for (int u = u4; u < u4 + 4; ++u) {
            const int t = min(u0 + u, last);
#pragma unroll
            for (int e = 0; e < kVec; ++e) {
              const float4 kk = Load4(in.k + t * d + col[e], col_ok[e]);
              if constexpr (kKeepKeys) keys[u][e] = kk;
              xk[u] = Dot4(m[e], kk, xk[u]);
              xq[u] = Dot4(m[e], Load4(in.q + t * d + col[e], col_ok[e]), xq[u]);
            }
          }
        }
      }
      // 2. Lane u now holds (M k_u)_i in xk[0] and (M q_u)_i in xq[0].
      ReduceScatter<kGroup>(xk, xq, lane);
      float read = xq[0];

      // 3. e_u, then G_i += sum_u e_u k_u (e_u = 0 past the group's end,
      // so those slots add exactly nothing).
      const int mine = lane % kGroup;
      float err = 0.f;
      if (mine < len) {
        const int u = u0 + mine;
        err = (in.gates[u * 4 + 1] * inv_period) * (xk[0] - in.v[u * kRowsPerBlock + half]);
      }
#pragma unroll
      for (int u4 = 0; u4 < kGroup; u4 += 4) {
        if (u4 < len) {
#pragma unroll
          for (int u = u4; u < u4 + 4; ++u) {
            const float eu = __shfl_sync(kFull, err, u, 16);
            const int t = min(u0 + u, last);
#pragma unroll
            for (int e = 0; e < kVec; ++e) {
              float4 kk;
              if constexpr (kKeepKeys) {
                kk = keys[u][e];
              } else {
                kk = Load4(in.k + t * d + col[e], col_ok[e]);
              }
              g[e].x = fmaf(eu, kk.x, g[e].x);
              g[e].y = fmaf(eu, kk.y, g[e].y);
              g[e].z = fmaf(eu, kk.z, g[e].z);
              g[e].w = fmaf(eu, kk.w, g[e].w);
            }
          }
        }
      }

      // 4. The fire, and the last token's read after it.
      if (fires) {
        const float alpha = in.gates[last * 4 + 0], eta = in.gates[last * 4 + 2];
        float dq = 0.f;
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          if (!fired) sv[e] = Load4(s_row + col[e], row_ok && col_ok[e]);
          sv[e] = make_float4(eta * sv[e].x - g[e].x, eta * sv[e].y - g[e].y,
                              eta * sv[e].z - g[e].z, eta * sv[e].w - g[e].w);
          m[e] = make_float4(alpha * m[e].x + sv[e].x, alpha * m[e].y + sv[e].y,
                             alpha * m[e].z + sv[e].z, alpha * m[e].w + sv[e].w);
          g[e] = make_float4(0.f, 0.f, 0.f, 0.f);
          dq = Dot4(m[e], Load4(in.q + last * d + col[e], col_ok[e]), dq);
        }
        dq = HalfWarpSum(dq);
        if (mine == len - 1) read = dq;
        fired = true;
        until_fire = period - 1;
      } else {
        until_fire -= len;
      }
      if (row_ok && lane < len) {
        const size_t r = size_t(b) * p.tokens + t0 + u0 + lane;
        y_level[r * width + h * d + row] = read;
      }
      u0 += len;
    }
    __syncthreads();  // buffer i & 1 is refilled by the next iteration
  }

  if (!row_ok) return;
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    if (!col_ok[e]) continue;
    Store4(g_row + col[e], g[e]);
    if (fired) {
      Store4(m_row + col[e], m[e]);
      Store4(s_row + col[e], sv[e]);
    }
  }
}

// Grid: x = blocks of 8 rows, y = (level of the call, head), z = session.
// The group size follows the level's period (uniform over the block).
template <int kVec>
__global__ void __launch_bounds__(kThreads)
    CmsSpanKernel(const __grid_constant__ CmsSlowParams p, int tile) {
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  if (p.period[blockIdx.y / p.heads] <= 8) {
    SpanRows<kVec, 8>(p, tile, smem);
  } else {
    SpanRows<kVec, 16>(p, tile, smem);
  }
}

template <int kVec>
cudaError_t Launch(const CmsSlowParams& p, cudaStream_t stream) {
  const int tile = p.tokens < kMaxTile ? p.tokens : kMaxTile;
  size_t smem = 0;
  const cudaError_t err = cms::PrepareSharedMemory(CmsSpanKernel<kVec>, p.dim, tile, &smem);
  if (err != cudaSuccess) return err;
  const dim3 grid((p.dim + kRowsPerBlock - 1) / kRowsPerBlock, p.heads * p.count, p.batch);
  CmsSpanKernel<kVec><<<grid, kThreads, smem, stream>>>(p, tile);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchCmsSpanKernel(const CmsSlowParams& p, cudaStream_t stream) {
  return p.dim <= 64 ? Launch<1>(p, stream) : Launch<2>(p, stream);
}

}  // namespace hecate
