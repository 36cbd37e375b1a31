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
using cms::kRowsPerBlock;
using cms::kThreads;
using cms::Load4;

template <int kVec>
__global__ void __launch_bounds__(kThreads)
    CmsSlowKernel(const __grid_constant__ CmsSlowParams p, int tile) {
  extern __shared__ float4 smem4[];
  cms::Row<kVec> row(p);
  cms::ForEachTile(
      p, tile, reinterpret_cast<float*>(smem4), row.b, row.h, row.row0, row.gate_index0,
      row.gate_stride_kind, [&](const cms::TileView& in, int t0, int n) {
        const int d = row.d;
        for (int t = 0; t < n; ++t) {
          const size_t r = size_t(row.b) * p.tokens + t0 + t;
          float4 kk[kVec], qq[kVec];
#pragma unroll
          for (int e = 0; e < kVec; ++e) {
            kk[e] = Load4(in.k + t * d + row.col[e], row.col_ok[e]);
            qq[e] = Load4(in.q + t * d + row.col[e], row.col_ok[e]);
          }
          const float vi = in.v[t * kRowsPerBlock + row.half];
          const float alpha = in.gates[t * 4 + 0], theta = in.gates[t * 4 + 1];
          float dk = 0.f, dq = 0.f;
          if (row.period == 1) {
            // The gated delta rule, as backends/cpu/memory.cc DeltaRuleLevel:
            // e = alpha (M k) - v;  M = alpha M - theta e k^T;  y = M q.
#pragma unroll
            for (int e = 0; e < kVec; ++e) dk = Dot4(row.m[e], kk[e], dk);
            dk = HalfWarpSum(dk);
            const float step = theta * (alpha * dk - vi);
#pragma unroll
            for (int e = 0; e < kVec; ++e) {
              float4& m = row.m[e];
              m = make_float4(alpha * m.x - step * kk[e].x, alpha * m.y - step * kk[e].y,
                              alpha * m.z - step * kk[e].z, alpha * m.w - step * kk[e].w);
              dq = Dot4(m, qq[e], dq);
            }
            dq = HalfWarpSum(dq);
            row.fired = true;  // M changed: write it back
          } else {
#pragma unroll
            for (int e = 0; e < kVec; ++e) {
              dk = Dot4(row.m[e], kk[e], dk);
              dq = Dot4(row.m[e], qq[e], dq);
            }
            dk = HalfWarpSum(dk);
            dq = HalfWarpSum(dq);
            const float err = (theta * row.inv_period) * (dk - vi);
#pragma unroll
            for (int e = 0; e < kVec; ++e) {
              float4& g = row.g[e];
              g.x += err * kk[e].x;
              g.y += err * kk[e].y;
              g.z += err * kk[e].z;
              g.w += err * kk[e].w;
            }
            if (row.until_fire == 0) {  // uniform over the block: one session
              dq = row.Fire(alpha, in.gates[t * 4 + 2], in.q + t * d);
              row.until_fire = row.period;
            }
            --row.until_fire;
          }
          if (row.row_ok && row.lane == 0) {
            row.y_level[r * row.width + row.h * d + row.row] = dq;
          }
        }
      });
  row.Store();
}

}  // namespace

cudaError_t LaunchCmsSlowKernel(const CmsSlowParams& p, cudaStream_t stream) {
  return p.dim <= 64 ? cms::LaunchOverRows(CmsSlowKernel<1>, p, stream)
                     : cms::LaunchOverRows(CmsSlowKernel<2>, p, stream);
}

}  // namespace hecate
