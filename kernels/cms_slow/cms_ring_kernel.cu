// Slow CMS levels for decode through the compact error buffer
// (CmsRingParams in cms_slow_kernel.h), and the fold of the rings into the
// dense G that every reader of the canonical state needs first.
//
// Decode (one token): as the row kernel, 16 lanes own one value row of M
// (float4 columns) and 8 rows share a block; the token's key and query are
// read straight from global memory (one token: nothing to stage). A token
// that neither fills the ring nor fires reads M only and appends its error
// (one float per row) and, once per head, its key. A full ring or a fire
// reads the dense G (skipped at a fire when it is known to be zero), adds
// the ring's entries in token order — the same sums as the dense path, in
// the same order — then stores G, or fires as the row kernel does.
#include <cstdint>

#include "kernels/cms_slow/cms_slow_kernel.h"
#include "kernels/cms_slow/cms_slow_tile.cuh"

namespace hecate {
namespace {

using cms::Dot4;
using cms::HalfWarpSum;
using cms::kRowsPerBlock;
using cms::kThreads;
using cms::Load4;
using cms::Store4;

__device__ __forceinline__ uint64_t RingOrigin(const float* base, size_t offset) {
  return *reinterpret_cast<const uint64_t*>(base + offset);
}

// g += e_t k_t^T (row `row`) for the ring's `count` entries before `pulse`,
// oldest first. k_ring and e_ring point at this head's [slots, dim].
template <int kVec>
__device__ __forceinline__ void AddRing(float4 (&g)[kVec], const float* k_ring,
                                        const float* e_ring, int slots, int d, uint64_t pulse,
                                        int count, int row, const int (&col)[kVec],
                                        const bool (&col_ok)[kVec]) {
  for (int i = 0; i < count; ++i) {
    const int slot = int((pulse - uint64_t(count - i)) % uint64_t(slots));
    const float err = e_ring[size_t(slot) * d + row];
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      const float4 kk = Load4(k_ring + size_t(slot) * d + col[e], col_ok[e]);
      g[e].x += err * kk.x;
      g[e].y += err * kk.y;
      g[e].z += err * kk.z;
      g[e].w += err * kk.w;
    }
  }
}

// Grid: x = blocks of 8 rows, y = (level of the call, head), z = session.
template <int kVec>
// At most 64 registers: 8 blocks per SM keep enough loads of M in flight.
__global__ void __launch_bounds__(kThreads, 8)
    CmsRingKernel(const __grid_constant__ CmsSlowParams p) {
  const int lane = threadIdx.x & 15, half = threadIdx.x >> 4;
  const int row = blockIdx.x * kRowsPerBlock + half;
  const int h = blockIdx.y % p.heads, s = blockIdx.y / p.heads;
  const int b = blockIdx.z;
  const int d = p.dim, slots = p.ring.slots;
  const bool row_ok = row < d;
  const int safe_row = row_ok ? row : 0;
  const int level = p.level[s], period = p.period[s];

  float* base = p.states[b];
  const size_t row_offset = (size_t(h) * d + safe_row) * d;
  float* m_row = base + p.m_offset[s] + row_offset;
  // One token per session: row r = b.
  const size_t in = size_t(b) * p.qkv_stride + size_t(h) * d;

  int col[kVec];
  bool col_ok[kVec];
  float4 m[kVec], kk[kVec], qq[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    col[e] = lane * 4 + 64 * e;
    col_ok[e] = col[e] < d;
    m[e] = Load4(m_row + col[e], row_ok && col_ok[e]);
    kk[e] = Load4(p.k + in + col[e], col_ok[e]);
    qq[e] = Load4(p.q + in + col[e], col_ok[e]);
  }
  const float* gates = p.gates + size_t(b) * p.gate_stride + level * p.heads + h;
  const int kind = p.levels * p.heads;
  const float alpha = gates[0], theta = gates[kind];
  const float vi = p.v[in + safe_row];

  const uint64_t pulse = p.pulse[b];
  const uint64_t origin = RingOrigin(base, p.ring.origin_offset);
  const int count = CmsRingCount(pulse, origin, period, slots);
  const int slot = int(pulse % uint64_t(slots));
  float* k_ring = base + p.ring.k_offset + size_t(h) * slots * d;
  float* e_ring = base + p.ring.e_offset[s] + size_t(h) * slots * d;
  // The key once per head and pulse (every level's entry of this pulse
  // shares it; no entry of an earlier pulse still needed sits in this slot).
  if (s == 0 && blockIdx.x == 0 && half == 0) {
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      if (col_ok[e]) Store4(k_ring + size_t(slot) * d + col[e], kk[e]);
    }
  }

  float dk = 0.f, dq = 0.f;
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    dk = Dot4(m[e], kk[e], dk);
    dq = Dot4(m[e], qq[e], dq);
  }
  dk = HalfWarpSum(dk);
  dq = HalfWarpSum(dq);
  const float err = (theta * (1.0f / float(period))) * (dk - vi);
  const bool fire = (pulse + 1) % uint64_t(period) == 0;  // uniform over the block

  if (!fire && count < slots - 1) {
    if (row_ok && lane == 0) e_ring[size_t(slot) * d + row] = err;
  } else {
    // The dense G is zero at a fire when the level's previous fire ran
    // after the origin (it zeroed G) and no full ring was added since.
    const uint64_t period_start = pulse - pulse % uint64_t(period);
    const bool g_zero = fire && origin < period_start && pulse - period_start < uint64_t(slots);
    float* g_row = base + p.g_offset[s] + row_offset;
    float4 g[kVec];
#pragma unroll
    for (int e = 0; e < kVec; ++e) g[e] = Load4(g_row + col[e], !g_zero && row_ok && col_ok[e]);
    AddRing(g, k_ring, e_ring, slots, d, pulse, count, safe_row, col, col_ok);
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      g[e].x += err * kk[e].x;
      g[e].y += err * kk[e].y;
      g[e].z += err * kk[e].z;
      g[e].w += err * kk[e].w;
    }
    if (!fire) {  // a full ring: into G
      if (row_ok) {
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          if (col_ok[e]) Store4(g_row + col[e], g[e]);
        }
      }
    } else {  // S = eta S - G; M = alpha M + S; G = 0
      const float eta = gates[2 * kind];
      float* s_row = base + p.s_offset[s] + row_offset;
      float4 sv[kVec];
      dq = 0.f;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        sv[e] = Load4(s_row + col[e], row_ok && col_ok[e]);
        sv[e] = make_float4(eta * sv[e].x - g[e].x, eta * sv[e].y - g[e].y,
                            eta * sv[e].z - g[e].z, eta * sv[e].w - g[e].w);
        m[e] = make_float4(alpha * m[e].x + sv[e].x, alpha * m[e].y + sv[e].y,
                           alpha * m[e].z + sv[e].z, alpha * m[e].w + sv[e].w);
        dq = Dot4(m[e], qq[e], dq);
      }
      dq = HalfWarpSum(dq);
      if (row_ok) {
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          if (!col_ok[e]) continue;
          Store4(m_row + col[e], m[e]);
          Store4(s_row + col[e], sv[e]);
          if (!g_zero) Store4(g_row + col[e], make_float4(0.f, 0.f, 0.f, 0.f));
        }
      }
    }
  }
  if (row_ok && lane == 0) {
    p.y[s * p.y_plane + size_t(b) * p.heads * d + size_t(h) * d + row] = dq;
  }
}

// Grid: x = blocks of 8 rows, y = (slow level, head), z = session * layers.
template <int kVec>
__global__ void __launch_bounds__(kThreads)
    CmsRingFoldKernel(const __grid_constant__ CmsRingFoldParams p) {
  const int lane = threadIdx.x & 15, half = threadIdx.x >> 4;
  const int row = blockIdx.x * kRowsPerBlock + half;
  const int h = blockIdx.y % p.heads, s = blockIdx.y / p.heads;
  const int b = blockIdx.z / p.layers, l = blockIdx.z % p.layers;
  const int d = p.dim, slots = p.ring.slots;
  if (row >= d) return;  // no shuffles below
  float* base = p.states != nullptr ? p.states[b] : p.one_state;
  const uint64_t pulse = p.states != nullptr ? p.pulse[b] : p.one_pulse;
  const int count =
      CmsRingCount(pulse, RingOrigin(base, p.ring.origin_offset), p.period[s], slots);
  if (count == 0) return;
  float* g_row = base + l * p.state_layer_stride + p.g_offset[s] + (size_t(h) * d + row) * d;
  const size_t ring = l * p.ring_layer_stride + size_t(h) * slots * d;
  int col[kVec];
  bool col_ok[kVec];
  float4 g[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    col[e] = lane * 4 + 64 * e;
    col_ok[e] = col[e] < d;
    g[e] = Load4(g_row + col[e], col_ok[e]);
  }
  AddRing(g, base + p.ring.k_offset + ring, base + p.ring.e_offset[s] + ring, slots, d, pulse,
          count, row, col, col_ok);
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    if (col_ok[e]) Store4(g_row + col[e], g[e]);
  }
}

// After the fold (a separate launch: every block of the fold reads it).
__global__ void CmsRingOriginKernel(const __grid_constant__ CmsRingFoldParams p) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= p.batch) return;
  float* base = p.states != nullptr ? p.states[b] : p.one_state;
  const uint64_t pulse = p.states != nullptr ? p.pulse[b] : p.one_pulse;
  *reinterpret_cast<uint64_t*>(base + p.ring.origin_offset) = pulse + p.advance;
}

template <int kVec>
cudaError_t LaunchRing(const CmsSlowParams& p, cudaStream_t stream) {
  const dim3 grid((p.dim + kRowsPerBlock - 1) / kRowsPerBlock, p.heads * p.count, p.batch);
  CmsRingKernel<kVec><<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <int kVec>
cudaError_t LaunchFold(const CmsRingFoldParams& p, cudaStream_t stream) {
  if (p.count > 0) {
    const dim3 grid((p.dim + kRowsPerBlock - 1) / kRowsPerBlock, p.heads * p.count,
                    p.batch * p.layers);
    CmsRingFoldKernel<kVec><<<grid, kThreads, 0, stream>>>(p);
    if (const cudaError_t err = cudaGetLastError(); err != cudaSuccess) return err;
  }
  CmsRingOriginKernel<<<(p.batch + 127) / 128, 128, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchCmsRingKernel(const CmsSlowParams& p, cudaStream_t stream) {
  return p.dim <= 64 ? LaunchRing<1>(p, stream) : LaunchRing<2>(p, stream);
}

cudaError_t LaunchCmsRingFold(const CmsRingFoldParams& p, cudaStream_t stream) {
  return p.dim <= 64 ? LaunchFold<1>(p, stream) : LaunchFold<2>(p, stream);
}

}  // namespace hecate
