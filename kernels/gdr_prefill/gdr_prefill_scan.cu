// Phase 2 of the chunked gated delta rule: the chunks of a (session, head)
// in order, carrying the state. See gdr_prefill_chunk.cu for the algebra;
// per chunk this applies
//   U = U~ - W M0^T,   Y = Y0 + Q' M0^T,   M = gamma_last M0 + U'^T K
// with U' = diag(exp(g_last - g)) U.
//
// Rows of M (value dimensions) never mix, so a block owns R = 8 rows of one
// head's M and the grid is (d / 8, batch * heads), which fills the machine
// at batch 1. Every block needs the whole chunk tile [W; Q'; K] (96 KB at
// d = 128); v3 had each block stream it from L2, 12 MB per chunk step over
// the machine, and was bound by that. Here the blocks of a head form
// clusters: each block bulk-copies a share of the tile's rows and multicasts
// them to every block of its cluster (one mbarrier per buffer, double
// buffered), so L2 serves each tile once per cluster. A cluster barrier per
// chunk says every block is done with a buffer before it is refilled.
//
// Both products run on tensor cores in 3xTF32 (mma.sync m16n8k8, operands
// split hi + lo, error near float32; plain TF32 would lose three digits):
//   [W; Q'] M0^T: 128 x 8 x d, one 16-row tile per warp;
//   M^T += K^T U': d x 8 x 64, one 16-column tile per warp.
// Operand layouts are chosen so every shared-memory access is free of bank
// conflicts (row strides d + 4; permuted k and n orders noted in place).
// The block's M lives in registers in the layout of the second product's
// accumulators; a float32 copy in shared memory feeds the first product.
#include <cstdint>

#include "kernels/cp_async.cuh"
#include "kernels/gdr_prefill/gdr_prefill_kernel.h"
#include "kernels/mma_tf32.cuh"
#include "kernels/sm90_ptx.cuh"

namespace hecate {

namespace {

constexpr int C = kGdrChunk;
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int R = 8;       // value rows per block: one n8 tile
constexpr int RS = R + 4;  // U~, U' row stride: conflict-free for both products
constexpr int YS = R;      // Y0 row stride (unpadded: shared memory is full)
constexpr int kMaxCluster = 8;  // portable cluster size
// U~ / Y0 slices come from device memory (the workspace outgrows L2) and
// are prefetched two chunks ahead: one chunk ahead left their latency on
// the critical path.
constexpr int kSliceBufs = 3;
static_assert(2 * C == 16 * kWarps, "one 16-row tile of [W; Q'] per warp");

// Shared-memory carve-up (floats, each part 16-byte aligned). Double
// buffers are a base plus a per-buffer stride (arrays of pointers indexed
// at run time would go to local memory).
template <int D>
struct ScanLayout {
  static constexpr int DS = D + 4;
  // [2][tile]: W, Q', K rows of DS, then key decays and gamma_last: the
  // workspace's layout (gdr_prefill_kernel.h), so one bulk copy fills it.
  static constexpr int kTile = 3 * C * DS + C + 4;
  static constexpr int kX = 0;
  static constexpr int kUt = kX + 2 * kTile;        // [3][C][RS] U~ slice
  static constexpr int kYt = kUt + kSliceBufs * C * RS;  // [3][C][YS] Y0 slice
  static constexpr int kM = kYt + kSliceBufs * C * YS;   // [2][R][DS] M hi, lo
  static constexpr int kU = kM + 2 * R * DS;        // [C][RS] U'
  static constexpr int kBar = kU + C * RS;          // 2 mbarriers
  static constexpr int kFloats = kBar + 4;
  static constexpr uint32_t kTileBytes = kTile * 4;
  static_assert(kFloats * 4 <= 227 * 1024, "fits one block's shared memory");
  static_assert(kTile % 4 == 0, "16-byte aligned buffers");
};

// mma row g of a 16-row tile is physical row R(g) (and 8 + R(g)): rows g =
// 2p and 2p + 1 then sit 4 rows apart, 16 banks apart at stride d + 4, so the
// 8 lanes of a 16-byte load phase cover all 32 banks. The n index of the
// first product maps to value rows the same way.
__device__ __forceinline__ int PermRow(int g) { return (g >> 1) + 4 * (g & 1); }

template <int D>
__global__ void __launch_bounds__(kThreads, 1)
    GdrPrefillScanKernel(GdrPrefillParams p) {
  using L = ScanLayout<D>;
  constexpr int DS = L::DS;
  extern __shared__ float4 smem4[];
  float* const sm = reinterpret_cast<float*>(smem4);
  float* const ms = sm + L::kM;
  float* const us = sm + L::kU;
  const uint32_t bar0 = SmemAddr(sm + L::kBar);  // buffer b: bar0 + 8 b

  const int t = threadIdx.x;
  const int lane = t & 31, warp = t >> 5;
  const int g = lane >> 2, tig = lane & 3;
  const int i0 = blockIdx.x * R;
  const int bh = blockIdx.y;
  const int b = bh / p.heads;
  const int h = bh % p.heads;
  const int chunks = (p.tokens + C - 1) / C;
  const size_t chunk_floats = GdrPrefillChunkFloats(D);
  const float* ws = p.workspace + size_t(bh) * chunks * chunk_floats;
  float* m_global = p.states[b] + p.state_offset + (size_t(h) * D + i0) * D;
  const uint32_t rank = ClusterRank(), cluster = ClusterSize();
  const uint16_t mask = static_cast<uint16_t>((1u << cluster) - 1);

  if (t == 0) {
    MbarInit(bar0, 1);
    MbarInit(bar0 + 8, 1);
    MbarInitFence();
  }
  // M in the second product's accumulator layout: value rows 2 tig and
  // 2 tig + 1, columns 16 warp + g and + 8. The first product reads it
  // from shared memory, already split into tf32 hi and lo (ms, ms + R DS).
  const bool owns_m = warp < D / 16;
  const int mc = 16 * warp + g;
  float m_reg[4] = {0.f, 0.f, 0.f, 0.f};
  if (owns_m) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int v = 2 * tig + (e & 1), c = mc + 8 * (e >> 1);
      m_reg[e] = m_global[size_t(v) * D + c];
      const Tf32Pair split = Split(m_reg[e]);
      ms[v * DS + c] = __uint_as_float(split.hi);
      ms[(R + v) * DS + c] = __uint_as_float(split.lo);
    }
  }
  ClusterArrive();  // peers' mbarriers exist before anything is multicast
  ClusterWait();

  // Chunk `chunk` into buffer `buf`: this block's share of the tile (a
  // contiguous 1/cluster of it, multicast to every block of the cluster;
  // the whole tile without multicast), the expected byte count on its own
  // mbarrier, and its own U~ / Y0 slices. Few large copies: 193 row copies
  // per block and chunk (one per tile row) were bound by the copy engine's
  // per-request cost (measured 6 to 9 us per chunk).
  auto issue_tile = [&](int chunk, int buf) {
    const float* w = ws + size_t(chunk) * chunk_floats;
    const uint32_t bar = bar0 + 8 * buf;
    MbarArriveExpectTx(bar, L::kTileBytes);
    const uint32_t piece =
        kHasMulticast ? (L::kTileBytes / 16 + cluster - 1) / cluster * 16 : L::kTileBytes;
    const uint32_t at = kHasMulticast ? piece * rank : 0;
    if (at < L::kTileBytes) {
      const uint32_t bytes = min(piece, L::kTileBytes - at);
      BulkCopyMulticast(SmemAddr(sm + L::kX + buf * L::kTile) + at,
                        reinterpret_cast<const char*>(w) + at, bytes, bar, mask);
    }
  };
  // Slices: 64 rows x 2 float4 x {U~, Y0} = one 16-byte copy per thread.
  auto issue_slices = [&](int chunk) {
    const float* w = ws + size_t(chunk) * chunk_floats;
    const int buf = chunk % kSliceBufs;
    const int which = t >> 7, r = (t >> 1) & (C - 1), c = (t & 1) * 4;
    const float* src =
        w + GdrPrefillUtOffset(D) + which * size_t(C) * D + size_t(r) * D + i0 + c;
    CpAsync16(which ? sm + L::kYt + buf * C * YS + r * YS + c
                    : sm + L::kUt + buf * C * RS + r * RS + c,
              src, 16);
  };

  if (t == 0) issue_tile(0, 0);
  for (int c = 0; c < kSliceBufs - 1; ++c) {
    if (c < chunks) issue_slices(c);
    CpAsyncCommit();
  }
  for (int chunk = 0; chunk < chunks; ++chunk) {
    const int buf = chunk & 1;
    const int sbuf = chunk % kSliceBufs;
    const int len = min(C, p.tokens - chunk * C);
    // Every block is done with chunk - 1 before its buffer is refilled.
    // (Waiting in thread 0 only, the others later, hung: keep the split
    // cluster barrier uniform across each warp.) Per-warp arrivals on
    // remote mbarriers ran as fast, but racecheck cannot see that order.
    if (chunk > 0) ClusterWait();
    if (t == 0 && chunk + 1 < chunks) issue_tile(chunk + 1, buf ^ 1);
    if (chunk + kSliceBufs - 1 < chunks) issue_slices(chunk + kSliceBufs - 1);
    CpAsyncCommit();
    MbarWait(bar0 + 8 * buf, (chunk >> 1) & 1);
    CpAsyncWait<kSliceBufs - 1>();  // this chunk's slices
    __syncthreads();
    const float* xs = sm + L::kX + buf * L::kTile;
    const float* ks = xs + 2 * C * DS;
    const float* kd = ks + C * DS;
    const float* ut = sm + L::kUt + sbuf * C * RS;
    const float* yt = sm + L::kYt + sbuf * C * YS;

    // 1. Z = [W; Q'] M0^T, rows 16 warp .. + 15. k order within 16 columns
    // is permuted so each lane reads one float4 per row per 16 columns:
    // column 16 kb + 4 tig + e is k-step 2 kb + (e >> 1), k = tig + 4 (e & 1).
    {
      const int base = 16 * warp;
      const float* xa = xs + (base + PermRow(g)) * DS + 4 * tig;
      const float* xb = xa + 8 * DS;
      const float* mb = ms + PermRow(g) * DS + 4 * tig;
      // Four accumulators (k-step parity x 16-column block parity): the mma
      // chains are latency-bound with two warps per scheduler.
      float zs[4][4] = {};
#pragma unroll
      for (int kb = 0; kb < D / 16; ++kb) {
        const float4 a = *reinterpret_cast<const float4*>(xa + 16 * kb);
        const float4 a8 = *reinterpret_cast<const float4*>(xb + 16 * kb);
        const uint4 mh = *reinterpret_cast<const uint4*>(mb + 16 * kb);
        const uint4 ml = *reinterpret_cast<const uint4*>(mb + R * DS + 16 * kb);
        Mma3xTf32SplitB(zs[2 * (kb & 1)], a.x, a8.x, a.y, a8.y, mh.x, mh.y, ml.x, ml.y);
        Mma3xTf32SplitB(zs[2 * (kb & 1) + 1], a.z, a8.z, a.w, a8.w, mh.z, mh.w, ml.z,
                        ml.w);
      }
      float z[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) z[e] = (zs[0][e] + zs[1][e]) + (zs[2][e] + zs[3][e]);
      // z0, z1: row PermRow(g), value rows tig, tig + 4 (n = 2 tig, 2 tig + 1
      // through PermRow); z2, z3: the row 8 below.
      if (warp < C / 16) {  // U' = (U~ - W M0^T) * key decay
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int s = base + PermRow(g) + 8 * (e >> 1), v = tig + 4 * (e & 1);
          us[s * RS + v] = (ut[s * RS + v] - z[e]) * kd[s];
        }
      } else {  // Y = Y0 + Q' M0^T
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int r = base - C + PermRow(g) + 8 * (e >> 1), v = tig + 4 * (e & 1);
          if (r < len) {
            p.y[((size_t(b) * p.tokens + chunk * C + r) * p.heads + h) * D + i0 + v] =
                yt[r * YS + v] + z[e];
          }
        }
      }
    }
    __syncthreads();

    // 2. M^T = gamma M0^T + K^T U' over columns 16 warp .. + 15: A = K^T
    // read down key columns, token order permuted so the 8 tokens of a
    // k-step are 8 j + 2 tig (k = tig) and 8 j + 2 tig + 1 (k = tig + 4):
    // 2 tig rows apart is 8 tig banks apart, g adds 0..7.
    if (owns_m) {
      const float* ka = ks + 16 * warp + g;
      float accs[4][4] = {};
#pragma unroll
      for (int j = 0; j < C / 8; ++j) {
        const int s0 = 8 * j + 2 * tig, s1 = s0 + 1;
        Mma3xTf32(accs[j & 3], ka[s0 * DS], ka[s0 * DS + 8], ka[s1 * DS],
                  ka[s1 * DS + 8], us[s0 * RS + g], us[s1 * RS + g]);
      }
      float acc[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        acc[e] = (accs[0][e] + accs[1][e]) + (accs[2][e] + accs[3][e]);
      }
      const float gamma = kd[C];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        m_reg[e] = fmaf(gamma, m_reg[e], acc[e]);
        const Tf32Pair split = Split(m_reg[e]);
        const int at = (2 * tig + (e & 1)) * DS + mc + 8 * (e >> 1);
        ms[at] = __uint_as_float(split.hi);
        ms[R * DS + at] = __uint_as_float(split.lo);
      }
    }
    // Done reading this chunk's buffer: every value read from it has been
    // consumed by now (into M, U' or y), so the reads are complete and a
    // relaxed arrival is enough. M and U' are rewritten next chunk only
    // after the barrier that follows its tile wait.
    ClusterArriveRelaxed();
  }
  ClusterWait();  // no block leaves while peers may still multicast to it

  if (owns_m) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      m_global[size_t(2 * tig + (e & 1)) * D + mc + 8 * (e >> 1)] = m_reg[e];
    }
  }
}

// The largest cluster (8, 4, 2, 1) whose co-resident blocks still cover
// the grid's first wave: multicast saves L2 traffic, but a cluster size
// the GPCs cannot pack would push blocks into a second wave.
template <int D>
int ClusterSizeFor(const cudaLaunchConfig_t& base, int blocks) {
  static int cached[2][kMaxCluster + 1] = {};  // [D == 128][blocks capped]
  const int slot = D == 128 ? 1 : 0;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device != 0) device = -1;
  int capacity1 = 0;
  cudaLaunchConfig_t cfg = base;
  cudaLaunchAttribute attr;
  attr.id = cudaLaunchAttributeClusterDimension;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  auto capacity = [&](int cs) {
    if (device == 0 && cached[slot][cs] != 0) return cached[slot][cs];
    attr.val.clusterDim.x = cs;
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = 1;
    cfg.gridDim.x = D / R;
    int n = 0;
    if (cudaOccupancyMaxActiveClusters(&n, GdrPrefillScanKernel<D>, &cfg) != cudaSuccess) {
      (void)cudaGetLastError();
      n = 0;
    }
    if (device == 0) cached[slot][cs] = n > 0 ? n : -1;
    return n;
  };
  capacity1 = capacity(1);
  const int wanted = capacity1 > 0 ? (blocks < capacity1 ? blocks : capacity1) : blocks;
  for (int cs = kMaxCluster; cs > 1; cs /= 2) {
    if ((D / R) % cs == 0 && capacity(cs) * cs >= wanted) return cs;
  }
  return 1;
}

template <int D>
cudaError_t Launch(const GdrPrefillParams& p, cudaStream_t stream) {
  const size_t smem = ScanLayout<D>::kFloats * sizeof(float);
  cudaError_t err = cudaFuncSetAttribute(GdrPrefillScanKernel<D>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(D / R, p.batch * p.heads);
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  const int cs = ClusterSizeFor<D>(cfg, (D / R) * p.batch * p.heads);
  cudaLaunchAttribute attr;
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = cs;
  attr.val.clusterDim.y = 1;
  attr.val.clusterDim.z = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  err = cudaLaunchKernelEx(&cfg, GdrPrefillScanKernel<D>, p);
  if (err != cudaSuccess) return err;
  return cudaGetLastError();
}

}  // namespace

size_t GdrPrefillScanSmemBytes(int dim) {
  return (dim == 64 ? ScanLayout<64>::kFloats : ScanLayout<128>::kFloats) *
         sizeof(float);
}

cudaError_t LaunchGdrPrefillScanKernel(const GdrPrefillParams& p,
                                       cudaStream_t stream) {
  switch (p.dim) {
    case 64: return Launch<64>(p, stream);
    case 128: return Launch<128>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace hecate
