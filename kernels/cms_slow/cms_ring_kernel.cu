// Slow CMS levels for decode through the compact error buffer
// (CmsRingParams in cms_slow_kernel.h), and the fold of the rings into the
// dense G that every reader of the canonical state needs first.
//
// Decode (one token): as the row kernel, 16 lanes own one value row of M
// (float4 columns) and 8 rows share a block; a block advances a group of up
// to 4 levels of one head, so the state pointer, pulse, origin, key, query
// and value are read once for all of them. A token that neither fills the
// ring nor fires reads M only and appends its error (one float per row)
// and, once per head, its key. A full ring or a fire reads the dense G
// (skipped at a fire when it is known to be zero), adds the ring's entries
// in token order — the same sums as the dense path, in the same order —
// then stores G, or fires as the row kernel does.
//
// The step is bound by M's bytes (read once), so every global load of the
// common path — all levels' M rows, gates, key, query, value, origin — is
// issued before the first store: the compiler may not hoist a load above a
// store it cannot prove disjoint, and a load left behind a store costs the
// block another round trip to memory with no bytes of M in flight.
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

constexpr int kMaxGroup = 4;  // levels a block advances
constexpr int kRingChunk = 4;  // ring entries loaded together, at kVec 1
// Blocks an SM for a group of levels (80 registers, no spills): more blocks
// keep more of M in flight (on the H200 at B = 256, 5 blocks were 0.15 ms
// slower a decode step than 6).
constexpr int kRingMinBlocks = 6;

__device__ __forceinline__ uint64_t RingOrigin(const float* base, size_t offset) {
  return *reinterpret_cast<const uint64_t*>(base + offset);
}

// Inputs no block of the launch writes (key, query, value, gates): the
// read-only path.
__device__ __forceinline__ float4 LoadInput4(const float* p, bool ok) {
  return ok ? __ldg(reinterpret_cast<const float4*>(p)) : make_float4(0.f, 0.f, 0.f, 0.f);
}

// A row of M, S or G: global memory read once a step (evict first: L2 is
// better kept for the rings, keys and inputs); an explicit global load, as
// the base comes from a pointer array the compiler cannot place.
__device__ __forceinline__ float4 LoadState4(const float* p, bool ok) {
  return ok ? __ldcs(reinterpret_cast<const float4*>(p)) : make_float4(0.f, 0.f, 0.f, 0.f);
}

// g += e_t k_t^T (row `row`) for the ring's `count` entries before `pulse`,
// oldest first. k_ring and e_ring point at this head's [slots, dim]. A few
// entries' loads go out together (one round trip per few, not per entry);
// the sums stay in token order and skip, rather than zero, the entries past
// `count` (unwritten slots may hold anything, NaN included).
template <int kVec>
__device__ __forceinline__ void AddRing(float4 (&g)[kVec], const float* k_ring,
                                        const float* e_ring, int slots, int d, uint64_t pulse,
                                        int count, int row, const int (&col)[kVec],
                                        const bool (&col_ok)[kVec]) {
  constexpr int kChunk = kRingChunk / kVec;
  int slot = int((pulse - uint64_t(count)) % uint64_t(slots));  // the oldest entry's
  for (int i0 = 0; i0 < count; i0 += kChunk) {
    float err[kChunk];
    float4 kk[kChunk][kVec];
#pragma unroll
    for (int j = 0; j < kChunk; ++j) {
      const bool ok = i0 + j < count;
      err[j] = ok ? e_ring[size_t(slot) * d + row] : 0.f;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        kk[j][e] = Load4(k_ring + size_t(slot) * d + col[e], ok && col_ok[e]);
      }
      slot = slot + 1 == slots ? 0 : slot + 1;
    }
#pragma unroll
    for (int j = 0; j < kChunk; ++j) {
      if (i0 + j >= count) break;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        g[e].x += err[j] * kk[j][e].x;
        g[e].y += err[j] * kk[j][e].y;
        g[e].z += err[j] * kk[j][e].z;
        g[e].w += err[j] * kk[j][e].w;
      }
    }
  }
}

// x % m for block-uniform 64-bit pulse ids: every thread computes it, and
// the 64-bit remainder is a long subroutine, so 32-bit arithmetic whenever
// x fits (pulse ids below 2^32, ring distances always).
__device__ __forceinline__ uint32_t UniformMod(uint64_t x, uint32_t m) {
  return (x >> 32) == 0 ? uint32_t(x) % m : uint32_t(x % m);
}

// What a level does with this token: CmsRingCount(pulse, origin, period,
// slots) entries in its ring before it, given phase = pulse % period.
struct LevelStep {
  uint32_t phase;
  int count;
  bool fire;
};

__device__ __forceinline__ LevelStep StepOf(uint64_t pulse, uint64_t origin, int period,
                                            int slots) {
  LevelStep t;
  t.phase = UniformMod(pulse, uint32_t(period));
  const uint64_t period_start = pulse - t.phase;
  const uint64_t start = origin > period_start ? origin : period_start;
  t.count = int(UniformMod(pulse - start, uint32_t(slots)));
  t.fire = t.phase == uint32_t(period - 1);
  return t;
}

// Level s of the call, row `row`, after its dot products: a full ring or a
// fire. Returns the read (M q after any update).
template <int kVec>
__device__ __forceinline__ float FullRingOrFire(
    const CmsSlowParams& p, int s, float* base, size_t row_offset, const float* k_ring,
    const float* e_ring, const float* gates, uint64_t pulse, uint64_t origin, LevelStep t,
    float err, float dq, bool row_ok, int safe_row, const int (&col)[kVec],
    const bool (&col_ok)[kVec], const float* key, const float* query) {
  const int d = p.dim, slots = p.ring.slots;
  const bool fire = t.fire;
  // The dense G is zero at a fire when the level's previous fire ran
  // after the origin (it zeroed G) and no full ring was added since.
  const uint64_t period_start = pulse - t.phase;
  const bool g_zero = fire && origin < period_start && t.phase < uint32_t(slots);
  float* g_row = base + p.g_offset[s] + row_offset;
  float* m_row = base + p.m_offset[s] + row_offset;
  float* s_row = base + p.s_offset[s] + row_offset;
  float4 g[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    g[e] = LoadState4(g_row + col[e], !g_zero && row_ok && col_ok[e]);
  }
  AddRing(g, k_ring, e_ring, slots, d, pulse, t.count, safe_row, col, col_ok);
  // The key, and at a fire M, S and the query, read again (L1 or L2): held
  // in registers through the common path for this rare one, they spilled.
  float4 kk[kVec], m[kVec], sv[kVec], qq[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    kk[e] = LoadInput4(key + col[e], col_ok[e]);
    m[e] = LoadState4(m_row + col[e], fire && row_ok && col_ok[e]);
    sv[e] = LoadState4(s_row + col[e], fire && row_ok && col_ok[e]);
    qq[e] = LoadInput4(query + col[e], fire && col_ok[e]);
  }
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
    return dq;
  }
  // S = eta S - G; M = alpha M + S; G = 0
  const int kind = p.levels * p.heads;
  const float alpha = __ldg(gates + p.level[s] * p.heads);
  const float eta = __ldg(gates + 2 * kind + p.level[s] * p.heads);
  dq = 0.f;
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
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
  return dq;
}

// Grid: x = blocks of 8 rows, y = (group of kGroup levels of the call,
// head), z = session; the last group may hold fewer levels.
template <int kVec, int kGroup>
// One level a block: 7 blocks an SM (72 registers; at 64 it spilled).
__global__ void __launch_bounds__(kThreads, kGroup == 1 ? 7 : kRingMinBlocks)
    CmsRingKernel(const __grid_constant__ CmsSlowParams p) {
  const int lane = threadIdx.x & 15, half = threadIdx.x >> 4;
  const int row = blockIdx.x * kRowsPerBlock + half;
  const int h = blockIdx.y % p.heads, s0 = blockIdx.y / p.heads * kGroup;
  const int levels = min(kGroup, p.count - s0);
  const int b = blockIdx.z;
  const int d = p.dim, slots = p.ring.slots;
  const bool row_ok = row < d;
  const int safe_row = row_ok ? row : 0;
  const size_t row_offset = (size_t(h) * d + safe_row) * d;
  // One token per session: row r = b.
  const size_t in = size_t(b) * p.qkv_stride + size_t(h) * d;
  const float* gates = p.gates + size_t(b) * p.gate_stride + h;
  const int kind = p.levels * p.heads;

  // Every load of the common path, before any store.
  float* base = p.states[b];
  const uint64_t pulse = p.pulse[b];
  int col[kVec];
  bool col_ok[kVec];
  float4 kk[kVec], qq[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    col[e] = lane * 4 + 64 * e;
    col_ok[e] = col[e] < d;
    kk[e] = LoadInput4(p.k + in + col[e], col_ok[e]);
    qq[e] = LoadInput4(p.q + in + col[e], col_ok[e]);
  }
  const float vi = __ldg(p.v + in + safe_row);
  float4 m[kGroup][kVec];
  float theta[kGroup];
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    const bool level_ok = i < levels;
    const int s = level_ok ? s0 + i : s0;
    theta[i] = level_ok ? __ldg(gates + kind + p.level[s] * p.heads) : 0.f;
    const float* m_row = base + p.m_offset[s] + row_offset;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      m[i][e] = LoadState4(m_row + col[e], level_ok && row_ok && col_ok[e]);
    }
  }
  const uint64_t origin = RingOrigin(base, p.ring.origin_offset);

  float err[kGroup], dq[kGroup];
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    float dk = 0.f;
    dq[i] = 0.f;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      dk = Dot4(m[i][e], kk[e], dk);
      dq[i] = Dot4(m[i][e], qq[e], dq[i]);
    }
    dk = HalfWarpSum(dk);
    dq[i] = HalfWarpSum(dq[i]);
    const float period = float(p.period[i < levels ? s0 + i : s0]);
    err[i] = (theta[i] * (1.0f / period)) * (dk - vi);
  }

  const int slot = int(UniformMod(pulse, uint32_t(slots)));
  const float* k_ring = base + p.ring.k_offset + size_t(h) * slots * d;
  // The key once per head and pulse (every level's entry of this pulse
  // shares it; no entry of an earlier pulse still needed sits in this slot).
  if (s0 == 0 && blockIdx.x == 0 && half == 0) {
    float* key = base + p.ring.k_offset + (size_t(h) * slots + slot) * d;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      if (col_ok[e]) Store4(key + col[e], kk[e]);
    }
  }
  // The common case first for every level; the rare full rings and fires
  // after, through one copy of their code (unrolled per level, it spilled).
  unsigned rare = 0;
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    if (i >= levels) break;
    const int s = s0 + i;
    const LevelStep t = StepOf(pulse, origin, p.period[s], slots);
    if (t.fire || t.count >= slots - 1) {
      rare |= 1u << i;
      continue;
    }
    if (row_ok && lane == 0) {
      base[p.ring.e_offset[s] + (size_t(h) * slots + slot) * d + row] = err[i];
      p.y[s * p.y_plane + size_t(b) * p.heads * d + size_t(h) * d + row] = dq[i];
    }
  }
#pragma unroll 1
  for (int i = 0; rare != 0; ++i, rare >>= 1) {
    if ((rare & 1u) == 0) continue;
    float e = err[0], y = dq[0];
#pragma unroll
    for (int j = 1; j < kGroup; ++j) {
      if (i == j) e = err[j], y = dq[j];
    }
    const int s = s0 + i;
    const LevelStep t = StepOf(pulse, origin, p.period[s], slots);
    const float* e_ring = base + p.ring.e_offset[s] + size_t(h) * slots * d;
    y = FullRingOrFire(p, s, base, row_offset, k_ring, e_ring, gates, pulse, origin, t, e, y,
                       row_ok, safe_row, col, col_ok, p.k + in, p.q + in);
    if (row_ok && lane == 0) {
      p.y[s * p.y_plane + size_t(b) * p.heads * d + size_t(h) * d + row] = y;
    }
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

template <int kVec, int kGroup>
cudaError_t LaunchRing(const CmsSlowParams& p, int groups, cudaStream_t stream) {
  const dim3 grid((p.dim + kRowsPerBlock - 1) / kRowsPerBlock, p.heads * groups, p.batch);
  CmsRingKernel<kVec, kGroup><<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <int kVec>
cudaError_t LaunchRingGroups(const CmsSlowParams& p, cudaStream_t stream) {
  // As few groups as kMaxGroup allows, their sizes balanced (5 levels: 3 + 2).
  const int groups = (p.count + kMaxGroup - 1) / kMaxGroup;
  switch ((p.count + groups - 1) / groups) {
    case 1:
      return LaunchRing<kVec, 1>(p, groups, stream);
    case 2:
      return LaunchRing<kVec, 2>(p, groups, stream);
    case 3:
      return LaunchRing<kVec, 3>(p, groups, stream);
    default:
      return LaunchRing<kVec, kMaxGroup>(p, groups, stream);
  }
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
  return p.dim <= 64 ? LaunchRingGroups<1>(p, stream) : LaunchRingGroups<2>(p, stream);
}

cudaError_t LaunchCmsRingFold(const CmsRingFoldParams& p, cudaStream_t stream) {
  return p.dim <= 64 ? LaunchFold<1>(p, stream) : LaunchFold<2>(p, stream);
}

}  // namespace hecate
