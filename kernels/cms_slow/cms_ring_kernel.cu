// Slow CMS levels for decode through the compact error buffer
// (CmsRingParams in cms_slow_kernel.h), and the fold of the rings into the
// dense G that every reader of the canonical state needs first.
//
// Decode (one token): as the row kernel, 16 lanes own one value row of M
// (float4 columns); a block of 128 threads covers 16 rows (two a half-warp)
// of a group of up to 4 levels of one head, so the state pointer, pulse,
// origin, key, query and value are read once for all of them. A token that
// neither fills the ring nor fires reads M only and appends its error (one
// float per row) and, once per head, its key. A full ring or a fire reads
// the dense G (skipped at a fire when it is known to be zero), adds the
// ring's entries in token order — the same sums as the dense path, in the
// same order — then stores G, or fires as the row kernel does.
//
// The step is bound by M's bytes (read once), so the kernel's speed is the
// bytes of M it keeps in flight: the rows go to shared memory with
// cp.async, which holds no registers while in flight (24 KB a block, 7
// blocks an SM), and every global load of the common path is issued before
// the first store (the compiler may not hoist a load above a store it cannot
// prove disjoint; a load left behind one costs another round trip). On the
// H200, random:base at B = 256 (engine_step_bench p50; cuda_backend_bench's
// ring stage in brackets): rows in registers, 8 rows a block, 6 blocks an SM
// 9.15 ms (1.92); cp.async, 8 rows a block, 8 blocks an SM 9.23 ms; 16 rows
// a block, 7 blocks an SM 8.93 ms (1.73).
#include <cstdint>

#include "kernels/cms_slow/cms_slow_kernel.h"
#include "kernels/cms_slow/cms_slow_tile.cuh"
#include "kernels/cp_async.cuh"
#include "kernels/multiprocessors.cuh"

namespace hecate {
namespace {

using cms::Dot4;
using cms::HalfWarpSum;
using cms::kRowsPerBlock;
using cms::kThreads;
using cms::Load4;
using cms::Store4;

constexpr int kMaxGroup = 4;  // levels a decode block advances
constexpr int kRows = 2;  // rows a half-warp owns in decode
// Decode blocks an SM: 72 registers, no spills (8 blocks, 64 registers,
// spilled).
constexpr int kRingMinBlocks = 7;
constexpr int kRingChunk = 4;  // the fold's ring entries loaded together, at kVec 1

__device__ __forceinline__ uint64_t RingOrigin(const float* base, size_t offset) {
  return *reinterpret_cast<const uint64_t*>(base + offset);
}

// Inputs no block of the launch writes (key, query, value, gates): the
// read-only path.
__device__ __forceinline__ float4 LoadInput4(const float* p, bool ok) {
  return ok ? __ldg(reinterpret_cast<const float4*>(p)) : make_float4(0.f, 0.f, 0.f, 0.f);
}

// A row of M, S or G at a full ring or a fire: read once (evict first: L2 is
// better kept for the rings, keys and inputs); an explicit global load, as
// the base comes from a pointer array the compiler cannot place.
__device__ __forceinline__ float4 LoadState4(const float* p, bool ok) {
  return ok ? __ldcs(reinterpret_cast<const float4*>(p)) : make_float4(0.f, 0.f, 0.f, 0.f);
}

// The fold's sum (decode's goes through shared memory, FullRingOrFire):
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

// cp.async's wait with a compiler memory barrier: the shared-memory reads
// after it must not move above it (no __syncthreads follows in the common
// path, where each thread reads back only what it copied).
__device__ __forceinline__ void CpAsyncWaitAll() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

// Level s of the call, after its dot products: a full ring or a fire, for
// the whole block (every thread calls it: it synchronises). The ring's
// entries go through shared memory `buf` (the M rows' buffer, read by now),
// as many at a time as fit, so the ring costs one round trip to L2 per
// buffer-full rather than one per entry. Returns the read (M q after any
// update).
template <int kVec>
__device__ __forceinline__ float FullRingOrFire(
    const CmsSlowParams& p, int s, float* base, size_t row_offset, const float* k_ring,
    const float* e_ring, const float* gates, uint64_t pulse, uint64_t origin, LevelStep t,
    float err, float dq, bool row_ok, int row0, int block_rows, int brow,
    const int (&col)[kVec], const bool (&col_ok)[kVec], const float* key, const float* query,
    float* buf, int buf_floats) {
  const int d = p.dim, slots = p.ring.slots;
  const bool fire = t.fire;
  // The dense G is zero at a fire when the level's previous fire ran
  // after the origin (it zeroed G) and no full ring was added since.
  const uint64_t period_start = pulse - t.phase;
  const bool g_zero = fire && origin < period_start && t.phase < uint32_t(slots);
  float* g_row = base + p.g_offset[s] + row_offset;
  float4 g[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    g[e] = LoadState4(g_row + col[e], !g_zero && row_ok && col_ok[e]);
  }
  // g += e_t k_t^T over the ring's entries, oldest first (the dense path's
  // order); the entries past `count` are never read (unwritten slots may
  // hold anything, NaN included).
  const int per = buf_floats / (d + block_rows), chunks = d / 4;
  float* e_buf = buf + per * d;
  const int first = int(UniformMod(pulse - uint64_t(t.count), uint32_t(slots)));
  for (int j0 = 0; j0 < t.count; j0 += per) {
    const int n = min(per, t.count - j0);
    __syncthreads();  // the buffer's earlier readers are done
#pragma unroll 1
    for (int idx = threadIdx.x; idx < n * chunks; idx += kThreads) {
      const int j = idx / chunks, c = (idx - j * chunks) * 4;
      const int slot = (first + j0 + j) % slots;
      CpAsync16(buf + j * d + c, k_ring + size_t(slot) * d + c);
    }
#pragma unroll 1
    for (int idx = threadIdx.x; idx < n * block_rows; idx += kThreads) {
      const int j = idx / block_rows, r = idx - j * block_rows;
      const int slot = (first + j0 + j) % slots;
      if (row0 + r < d) CpAsync4(e_buf + idx, e_ring + size_t(slot) * d + row0 + r);
    }
    CpAsyncCommit();
    CpAsyncWaitAll();
    __syncthreads();
#pragma unroll 1
    for (int j = 0; j < n; ++j) {
      const float ej = row_ok ? e_buf[j * block_rows + brow] : 0.f;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        const float4 kk = col_ok[e] ? *reinterpret_cast<const float4*>(buf + j * d + col[e])
                                    : make_float4(0.f, 0.f, 0.f, 0.f);
        g[e].x += ej * kk.x;
        g[e].y += ej * kk.y;
        g[e].z += ej * kk.z;
        g[e].w += ej * kk.w;
      }
    }
  }
  // The key, and at a fire M, S and the query, read again (L1 or L2): held
  // through the ring's sum they cost registers, and blocks an SM.
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    const float4 kk = LoadInput4(key + col[e], col_ok[e]);
    g[e].x += err * kk.x;
    g[e].y += err * kk.y;
    g[e].z += err * kk.z;
    g[e].w += err * kk.w;
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
  // S = eta S - G; M = alpha M + S; G = 0. Column block by column block,
  // each stored before the next is read (fewer registers; fires are rare).
  float* m_row = base + p.m_offset[s] + row_offset;
  float* s_row = base + p.s_offset[s] + row_offset;
  const int kind = p.levels * p.heads;
  const float alpha = __ldg(gates + p.level[s] * p.heads);
  const float eta = __ldg(gates + 2 * kind + p.level[s] * p.heads);
  dq = 0.f;
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    const bool ok = row_ok && col_ok[e];
    float4 m = LoadState4(m_row + col[e], ok), sv = LoadState4(s_row + col[e], ok);
    const float4 qq = LoadInput4(query + col[e], col_ok[e]);
    sv = make_float4(eta * sv.x - g[e].x, eta * sv.y - g[e].y, eta * sv.z - g[e].z,
                     eta * sv.w - g[e].w);
    m = make_float4(alpha * m.x + sv.x, alpha * m.y + sv.y, alpha * m.z + sv.z,
                    alpha * m.w + sv.w);
    dq = Dot4(m, qq, dq);
    if (ok) {
      Store4(m_row + col[e], m);
      Store4(s_row + col[e], sv);
      if (!g_zero) Store4(g_row + col[e], make_float4(0.f, 0.f, 0.f, 0.f));
    }
  }
  dq = HalfWarpSum(dq);
  return dq;
}

// Grid: x = blocks of 8 kRows rows, y = (group of kGroup levels of the
// call, head), z = session; the last group may hold fewer levels. Half-warp
// `half` owns rows row0 + half + 8 r, r < kRows.
template <int kVec, int kGroup>
__global__ void __launch_bounds__(kThreads, kRingMinBlocks)
    CmsRingKernel(const __grid_constant__ CmsSlowParams p) {
  // The block's M rows, copied in with cp.async: in flight they hold no
  // registers, so a thread can have several rows' bytes in flight and an SM
  // many blocks.
  __shared__ float4 m_buf[kGroup][kRows][kRowsPerBlock][16 * kVec];
  constexpr int kBlockRows = kRows * kRowsPerBlock;
  const int lane = threadIdx.x & 15, half = threadIdx.x >> 4;
  const int row0 = blockIdx.x * kBlockRows;
  const int h = blockIdx.y % p.heads, s0 = blockIdx.y / p.heads * kGroup;
  const int levels = min(kGroup, p.count - s0);
  const int b = blockIdx.z;
  const int d = p.dim, slots = p.ring.slots;
  int row[kRows];
  bool row_ok[kRows];
  size_t row_offset[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    row[r] = row0 + half + kRowsPerBlock * r;
    row_ok[r] = row[r] < d;
    row_offset[r] = (size_t(h) * d + (row_ok[r] ? row[r] : 0)) * d;
  }
  // One token per session: row r = b.
  const size_t in = size_t(b) * p.qkv_stride + size_t(h) * d;
  const float* gates = p.gates + size_t(b) * p.gate_stride + h;
  const int kind = p.levels * p.heads;

  // Every load of the common path, before any store.
  float* base = p.states[b];
  const uint64_t pulse = p.pulse[b];
  int col[kVec];
  bool col_ok[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    col[e] = lane * 4 + 64 * e;
    col_ok[e] = col[e] < d;
  }
  // The inputs first: they need not wait for the state pointer.
  float4 kk[kVec], qq[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    kk[e] = LoadInput4(p.k + in + col[e], col_ok[e]);
    qq[e] = LoadInput4(p.q + in + col[e], col_ok[e]);
  }
  float vi[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) vi[r] = __ldg(p.v + in + (row_ok[r] ? row[r] : 0));
  float theta[kGroup];
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    theta[i] = i < levels ? __ldg(gates + kind + p.level[s0 + i] * p.heads) : 0.f;
  }
#pragma unroll
  for (int i = 0; i < kGroup; ++i) {
    const float* m_level = base + p.m_offset[i < levels ? s0 + i : s0];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        if (i < levels && row_ok[r] && col_ok[e]) {
          CpAsync16(&m_buf[i][r][half][lane + 16 * e], m_level + row_offset[r] + col[e]);
        }
      }
    }
  }
  CpAsyncCommit();
  const uint64_t origin = RingOrigin(base, p.ring.origin_offset);
  CpAsyncWaitAll();

  float err[kRows][kGroup], dq[kRows][kGroup];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
#pragma unroll
    for (int i = 0; i < kGroup; ++i) {
      float4 m[kVec];
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        m[e] = i < levels && row_ok[r] && col_ok[e] ? m_buf[i][r][half][lane + 16 * e]
                                                    : make_float4(0.f, 0.f, 0.f, 0.f);
      }
      float dk = 0.f;
      dq[r][i] = 0.f;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        dk = Dot4(m[e], kk[e], dk);
        dq[r][i] = Dot4(m[e], qq[e], dq[r][i]);
      }
      dk = HalfWarpSum(dk);
      dq[r][i] = HalfWarpSum(dq[r][i]);
      const float period = float(p.period[i < levels ? s0 + i : s0]);
      err[r][i] = (theta[i] * (1.0f / period)) * (dk - vi[r]);
    }
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
  float* y_row = p.y + size_t(b) * p.heads * d + size_t(h) * d;
  // The common case first for every level; the rare full rings and fires
  // after, through one copy of their code.
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
    float* e_slot = base + p.ring.e_offset[s] + (size_t(h) * slots + slot) * d;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (row_ok[r] && lane == 0) {
        e_slot[row[r]] = err[r][i];
        y_row[s * p.y_plane + row[r]] = dq[r][i];
      }
    }
  }
  // Block-uniform (pulse, origin and periods are): the barriers inside are safe.
#pragma unroll 1
  for (int i = 0; rare != 0; ++i, rare >>= 1) {
    if ((rare & 1u) == 0) continue;
    const int s = s0 + i;
    const LevelStep t = StepOf(pulse, origin, p.period[s], slots);
    const float* e_ring = base + p.ring.e_offset[s] + size_t(h) * slots * d;
#pragma unroll 1
    for (int r = 0; r < kRows; ++r) {
      float e = 0.f, y = 0.f;
#pragma unroll
      for (int rr = 0; rr < kRows; ++rr) {
#pragma unroll
        for (int j = 0; j < kGroup; ++j) {
          if (r == rr && i == j) e = err[rr][j], y = dq[rr][j];
        }
      }
      const int row_r = row0 + half + kRowsPerBlock * r;
      const bool ok = row_r < d;
      y = FullRingOrFire(p, s, base, (size_t(h) * d + (ok ? row_r : 0)) * d, k_ring, e_ring,
                         gates, pulse, origin, t, e, y, ok, row0, kBlockRows,
                         half + kRowsPerBlock * r, col, col_ok, p.k + in, p.q + in,
                         reinterpret_cast<float*>(m_buf), int(sizeof(m_buf) / sizeof(float)));
      if (ok && lane == 0) y_row[s * p.y_plane + row_r] = y;
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
  const int block_rows = kRows * kRowsPerBlock;
  const dim3 grid((p.dim + block_rows - 1) / block_rows, p.heads * groups, p.batch);
  CmsRingKernel<kVec, kGroup><<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <int kVec>
cudaError_t LaunchRingGroups(const CmsSlowParams& p, cudaStream_t stream) {
  // As few groups as kMaxGroup allows, their sizes balanced (5 levels: 3 + 2),
  // unless that leaves SMs idle: decode of one or two sessions (64 blocks at
  // B=1 for the base config's three levels on 132 SMs took 0.02 ms more per
  // step than a level a block) runs a level a block.
  int groups = (p.count + kMaxGroup - 1) / kMaxGroup;
  const int block_rows = kRows * kRowsPerBlock;
  const long long grouped_blocks = static_cast<long long>((p.dim + block_rows - 1) / block_rows) *
                                   p.heads * groups * p.batch;
  int sms = 0;
  if (CurrentMultiprocessors(&sms) == cudaSuccess && grouped_blocks < sms) {
    groups = p.count;
  }
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
