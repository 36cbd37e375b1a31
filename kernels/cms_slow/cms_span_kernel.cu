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
using cms::kRowsPerBlock;
using cms::kThreads;
using cms::Load4;

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
  cms::Row<kVec> row(p);
  const int lane = row.lane, d = row.d;
  cms::ForEachTile(p, tile, smem, row.b, row.h, row.row0, row.gate_index0, row.gate_stride_kind,
                   [&](const cms::TileView& in, int t0, int n) {
    // Groups: uniform over the block (one session, one level), so every
    // branch below is taken by all lanes and the shuffles stay full-warp.
    for (int u0 = 0; u0 < n;) {
      const int len = min(min(kGroup, n - u0), row.until_fire + 1);
      const bool fires = len == row.until_fire + 1;  // at the group's last token
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
              const float4 kk = Load4(in.k + t * d + row.col[e], row.col_ok[e]);
              if constexpr (kKeepKeys) keys[u][e] = kk;
              xk[u] = Dot4(row.m[e], kk, xk[u]);
              xq[u] = Dot4(row.m[e], Load4(in.q + t * d + row.col[e], row.col_ok[e]), xq[u]);
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
        err = (in.gates[u * 4 + 1] * row.inv_period) *
              (xk[0] - in.v[u * kRowsPerBlock + row.half]);
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
                kk = Load4(in.k + t * d + row.col[e], row.col_ok[e]);
              }
              float4& g = row.g[e];
              g.x = fmaf(eu, kk.x, g.x);
              g.y = fmaf(eu, kk.y, g.y);
              g.z = fmaf(eu, kk.z, g.z);
              g.w = fmaf(eu, kk.w, g.w);
            }
          }
        }
      }

      // 4. The fire, and the last token's read after it.
      if (fires) {
        const float dq = row.Fire(in.gates[last * 4 + 0], in.gates[last * 4 + 2], in.q + last * d);
        if (mine == len - 1) read = dq;
        row.until_fire = row.period - 1;
      } else {
        row.until_fire -= len;
      }
      if (row.row_ok && lane < len) {
        const size_t r = size_t(row.b) * p.tokens + t0 + u0 + lane;
        row.y_level[r * row.width + row.h * d + row.row] = read;
      }
      u0 += len;
    }
  });
  row.Store();
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

}  // namespace

cudaError_t LaunchCmsSpanKernel(const CmsSlowParams& p, cudaStream_t stream) {
  return p.dim <= 64 ? cms::LaunchOverRows(CmsSpanKernel<1>, p, stream)
                     : cms::LaunchOverRows(CmsSpanKernel<2>, p, stream);
}

}  // namespace hecate
