// CMS levels, token by token, one value row of M per half-warp: the slow
// levels, and the period-1 level (gated delta rule) where the chunked
// prefill kernel does not cover the head width.
//
// Row i of M, S and G evolves on its own: (M k)_i needs only row i, the
// error-buffer update G_i += e_i k^T and the fire S_i = eta S_i - G_i,
// M_i = alpha M_i + S_i touch only row i, and y_i = M_i . q. So 16 lanes own
// one row (four columns per float4, 16-byte loads) and keep it in registers
// for the whole chunk; the two dot products per token are half-warp shuffle
// reductions. The block's 8 rows share each token's key and query, which
// arrive through a double-buffered shared-memory tile filled with cp.async,
// so the recurrence never waits on global memory. S is read only when the
// level fires inside the chunk; M and S are written back only then; G always.
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

// Grid: x = blocks of 8 rows, y = (level of the call, head), z = session.
// Token inputs pass through a double-buffered shared-memory tile (cp.async),
// so a row's recurrence never waits on global memory.
template <int kVec>
__global__ void __launch_bounds__(kThreads)
    CmsSlowKernel(const __grid_constant__ CmsSlowParams p, int tile) {
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
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
    g[e] = Load4(g_row + col[e], period > 1 && row_ok && col_ok[e]);
    sv[e] = make_float4(0.f, 0.f, 0.f, 0.f);
  }

  // Gate g of this level and head sits at gate_index0 + g * levels * heads.
  const int gate_index0 = level * p.heads + h;
  const int gate_stride_kind = p.levels * p.heads;
  float* y_level = p.y + s * p.y_plane;
  const float inv_period = 1.0f / float(period);
  const uint64_t pulse0 = p.pulse[b];
  // Tokens before the first one at which this level fires (slow levels).
  int until_fire = int(uint64_t(period - 1) - pulse0 % uint64_t(period));
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
    for (int t = 0; t < n; ++t) {
      const size_t r = size_t(b) * p.tokens + t0 + t;
      float4 kk[kVec], qq[kVec];
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        kk[e] = Load4(in.k + t * d + col[e], col_ok[e]);
        qq[e] = Load4(in.q + t * d + col[e], col_ok[e]);
      }
      const float vi = in.v[t * kRowsPerBlock + half];
      const float alpha = in.gates[t * 4 + 0], theta = in.gates[t * 4 + 1];
      float dk = 0.f, dq = 0.f;
      if (period == 1) {
        // The gated delta rule, as backends/cpu/memory.cc DeltaRuleLevel:
        // e = alpha (M k) - v;  M = alpha M - theta e k^T;  y = M q.
#pragma unroll
        for (int e = 0; e < kVec; ++e) dk = Dot4(m[e], kk[e], dk);
        dk = HalfWarpSum(dk);
        const float step = theta * (alpha * dk - vi);
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          m[e] = make_float4(alpha * m[e].x - step * kk[e].x, alpha * m[e].y - step * kk[e].y,
                             alpha * m[e].z - step * kk[e].z, alpha * m[e].w - step * kk[e].w);
          dq = Dot4(m[e], qq[e], dq);
        }
        dq = HalfWarpSum(dq);
        fired = true;  // M changed: write it back
      } else {
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          dk = Dot4(m[e], kk[e], dk);
          dq = Dot4(m[e], qq[e], dq);
        }
        dk = HalfWarpSum(dk);
        dq = HalfWarpSum(dq);
        const float err = (theta * inv_period) * (dk - vi);
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          g[e].x += err * kk[e].x;
          g[e].y += err * kk[e].y;
          g[e].z += err * kk[e].z;
          g[e].w += err * kk[e].w;
        }
        if (until_fire == 0) {  // uniform over the block: one session
          const float eta = in.gates[t * 4 + 2];
          dq = 0.f;
#pragma unroll
          for (int e = 0; e < kVec; ++e) {
            if (!fired) sv[e] = Load4(s_row + col[e], row_ok && col_ok[e]);
            sv[e] = make_float4(eta * sv[e].x - g[e].x, eta * sv[e].y - g[e].y,
                                eta * sv[e].z - g[e].z, eta * sv[e].w - g[e].w);
            m[e] = make_float4(alpha * m[e].x + sv[e].x, alpha * m[e].y + sv[e].y,
                               alpha * m[e].z + sv[e].z, alpha * m[e].w + sv[e].w);
            g[e] = make_float4(0.f, 0.f, 0.f, 0.f);
            dq = Dot4(m[e], qq[e], dq);
          }
          dq = HalfWarpSum(dq);
          fired = true;
          until_fire = period;
        }
        --until_fire;
      }
      if (row_ok && lane == 0) y_level[r * width + h * d + row] = dq;
    }
    __syncthreads();  // buffer i & 1 is refilled by the next iteration
  }

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

template <int kVec>
cudaError_t Launch(const CmsSlowParams& p, cudaStream_t stream) {
  const int tile = p.tokens < kMaxTile ? p.tokens : kMaxTile;
  size_t smem = 0;
  const cudaError_t err = cms::PrepareSharedMemory(CmsSlowKernel<kVec>, p.dim, tile, &smem);
  if (err != cudaSuccess) return err;
  const dim3 grid((p.dim + kRowsPerBlock - 1) / kRowsPerBlock, p.heads * p.count, p.batch);
  CmsSlowKernel<kVec><<<grid, kThreads, smem, stream>>>(p, tile);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchCmsSlowKernel(const CmsSlowParams& p, cudaStream_t stream) {
  return p.dim <= 64 ? Launch<1>(p, stream) : Launch<2>(p, stream);
}

}  // namespace hecate
