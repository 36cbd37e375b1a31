// Slow CMS levels (period > 1) over a chunk, span-wise on tensor cores.
// The same spans as cms_span_kernel.cu (between two fire points M is
// frozen, so a group's errors E = M K^T - V^T, reads Y = M Q^T and
// error-buffer update G += diag(theta / p) E K are matrix products), run
// as m16n8k8 mma in 3xTF32 (float32 accuracy, kernels/mma_tf32.cuh). A
// block owns 16 value rows of one (session, level, head); its warps (eight,
// or four once blocks outnumber the multiprocessors twice) split the
// columns, so a warp's E and Y are partial sums over its columns, added
// across warps through shared memory, and its share of G, M and S is its
// own columns.
//
// Why: the CUDA-core span kernel spends a warp on two rows and most of
// its instructions on shuffles (the dots' reduce-scatter, the errors'
// broadcast). Here M, S and G stay in registers in the mma accumulator
// layout (thread (g, t) holds rows g and g + 8, columns 8j + 2t and
// 8j + 2t + 1 of each of its column tiles j), and the products are
// arranged so that layout is also the operand layout they need:
//   - E = M K^T: A = M, reading a tile's column 2t as k index t and 2t + 1
//     as t + 4 (a permutation of the summation index, so the staged keys
//     are read with the same permutation: one 8-byte load);
//   - G += E' K: A = the errors, whose accumulator layout (tokens 2t,
//     2t + 1) is again a permutation of the k index (tokens);
//   - the fire (S = eta S - G, M = alpha M + S) is elementwise;
//   - the fired token's read uses the new M: fp32 dots, two shuffles, the
//     warps' partial dots added by one warp.
// Measured (nsight compute, H200, T = 2048): issue-latency bound with one
// or two warps a scheduler, so the work of a group is spread over eight
// warps to shorten each warp's chain. Tokens go in groups of up to 8
// (periods <= 8) or 16 that never cross a fire or a staged tile of 16
// tokens. Summation order differs from the token-by-token definition
// within float rounding (parity in cms_slow_test.cc).
#include <cstdint>

#include "kernels/cms_slow/cms_row_block_launch.cuh"
#include "kernels/cms_slow/cms_slow_kernel.h"
#include "kernels/cp_async.cuh"
#include "kernels/mma_tf32.cuh"

namespace hecate {
namespace {

constexpr int kRows = cms_launch::kBlockRows;  // value rows a block owns
constexpr int kTileTokens = 16;  // tokens staged per shared-memory buffer
constexpr unsigned kFull = 0xFFFFFFFFu;

// A block: 16 value rows, the columns split over kWarps warps.
template <int kDim, int kWarps>
struct TileLayout {
  static constexpr int kThreads = 32 * kWarps;
  // d + 8 floats between staged rows: the half-warp's 8-byte B-fragment
  // loads (8 tokens x 4 column pairs) fall in 16 different bank pairs.
  static constexpr int kStride = kDim + 8;
  static constexpr int kWarpCols = kDim / kWarps;
  static constexpr int kColTiles = kWarpCols / 8;                   // per warp
  static constexpr int kKeys = 0;                                   // [tile][kStride]
  static constexpr int kQueries = kKeys + kTileTokens * kStride;    // [tile][kStride]
  static constexpr int kValues = kQueries + kTileTokens * kStride;  // [tile][kRows]
  static constexpr int kGates = kValues + kTileTokens * kRows;      // [tile][4]
  static constexpr int kBufferFloats = kGates + kTileTokens * 4;
  // The warps' partial E and Y of a group ([kWarps][2][2 token tiles][4]
  // [32]), its errors ([2 token tiles][4][32]) and the warps' partial
  // reads of a fired token ([kWarps][kRows]).
  static constexpr int kPartials = 2 * kBufferFloats;
  static constexpr int kErrors = kPartials + kWarps * 2 * 2 * 4 * 32;
  static constexpr int kReads = kErrors + 2 * 4 * 32;
  static constexpr int kSmemFloats = kReads + kWarps * kRows;
};

// Tokens [t0, t0 + n) of session b, head h: keys and queries whole, values
// of this block's rows, the level's alpha, theta, eta.
template <int kDim, int kWarps>
__device__ __forceinline__ void Stage(const CmsSlowParams& p, int b, int h, int row0, int t0, int n,
                                      int gate_index0, int gate_stride_kind, float* buffer) {
  using L = TileLayout<kDim, kWarps>;
  constexpr int kThreads = L::kThreads;
  constexpr int kChunks = kDim / 4;
  for (int idx = threadIdx.x; idx < 2 * n * kChunks; idx += kThreads) {
    const int which = idx / (n * kChunks), rest = idx - which * n * kChunks;
    const int t = rest / kChunks, c = (rest - t * kChunks) * 4;
    const size_t r = size_t(b) * p.tokens + t0 + t;
    const float* src = (which == 0 ? p.k : p.q) + r * p.qkv_stride + h * kDim + c;
    CpAsync16(buffer + (which == 0 ? L::kKeys : L::kQueries) + t * L::kStride + c, src);
  }
  for (int idx = threadIdx.x; idx < n * (kRows / 4); idx += kThreads) {
    const int t = idx / (kRows / 4), c = (idx % (kRows / 4)) * 4;
    const size_t r = size_t(b) * p.tokens + t0 + t;
    CpAsync16(buffer + L::kValues + t * kRows + c, p.v + r * p.qkv_stride + h * kDim + row0 + c);
  }
  for (int idx = threadIdx.x; idx < n * 3; idx += kThreads) {
    const int t = idx / 3, gate = idx % 3;
    const size_t r = size_t(b) * p.tokens + t0 + t;
    CpAsync4(buffer + L::kGates + t * 4 + gate,
             p.gates + r * p.gate_stride + gate_index0 + gate * gate_stride_kind);
  }
}

// A operand from four accumulator-layout values c (rows g, g+8 x columns
// 2t, 2t+1): k index t is column 2t, t + 4 is column 2t + 1.
template <bool kPrecise>
__device__ __forceinline__ void OperandA(const float (&c)[4], Tf32Pair (&a)[4]) {
  a[0] = TfOperand<kPrecise>(c[0]);
  a[1] = TfOperand<kPrecise>(c[2]);
  a[2] = TfOperand<kPrecise>(c[1]);
  a[3] = TfOperand<kPrecise>(c[3]);
}

// One (session, level, head, 16 value rows) over the whole chunk; warp w
// owns columns [w d / kWarps, (w + 1) d / kWarps) of M, S and G, in
// registers.
template <int kDim, int kWarps, int kGroup, bool kPrecise>
__device__ __forceinline__ void SpanTiles(const CmsSlowParams& p, float* smem) {
  using L = TileLayout<kDim, kWarps>;
  constexpr int kColTiles = L::kColTiles;
  constexpr int kTokenTiles = kGroup / 8;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int col0 = warp * L::kWarpCols;
  const int row0 = blockIdx.x * kRows;
  const int h = blockIdx.y % p.heads, s = blockIdx.y / p.heads;
  const int b = blockIdx.z;
  const int width = p.heads * kDim;
  const int level = p.level[s], period = p.period[s];

  float* base = p.states[b];
  const size_t head = size_t(h) * kDim * kDim;
  // This thread's two rows, from its first column.
  const size_t row_a = size_t(row0 + g) * kDim + col0 + 2 * t4, row_b = row_a + 8 * kDim;
  float* m_head = base + p.m_offset[s] + head;
  float* s_head = base + p.s_offset[s] + head;
  float* g_head = base + p.g_offset[s] + head;
  auto load = [&](const float* src, float(&dst)[kColTiles][4]) {
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) {
      const float2 a = *reinterpret_cast<const float2*>(src + row_a + 8 * j);
      const float2 c = *reinterpret_cast<const float2*>(src + row_b + 8 * j);
      dst[j][0] = a.x, dst[j][1] = a.y, dst[j][2] = c.x, dst[j][3] = c.y;
    }
  };
  auto store = [&](float* dst, const float(&src)[kColTiles][4]) {
#pragma unroll
    for (int j = 0; j < kColTiles; ++j) {
      *reinterpret_cast<float2*>(dst + row_a + 8 * j) = make_float2(src[j][0], src[j][1]);
      *reinterpret_cast<float2*>(dst + row_b + 8 * j) = make_float2(src[j][2], src[j][3]);
    }
  };

  // Tokens before the next one at which this level fires; S is read only
  // by a fire.
  int until_fire = int(uint64_t(period - 1) - p.pulse[b] % uint64_t(period));
  float m[kColTiles][4], gr[kColTiles][4], sv[kColTiles][4] = {};
  load(m_head, m);
  load(g_head, gr);
  if (until_fire < p.tokens) load(s_head, sv);
  bool fired = false;

  const int gate_index0 = level * p.heads + h;
  const int gate_stride_kind = p.levels * p.heads;
  float* y_level = p.y + s * p.y_plane + h * kDim + row0;
  const float inv_period = 1.0f / float(period);
  float* partials = smem + L::kPartials;  // [kWarps][E, Y][token tile][4][32]
  float* errors = smem + L::kErrors;      // [token tile][4][32]
  float* reads = smem + L::kReads;        // [kWarps][kRows]
  auto partial = [&](int w, int which, int nt, int c) -> float& {
    return partials[(((w * 2 + which) * 2 + nt) * 4 + c) * 32 + lane];
  };

  const int tiles = (p.tokens + kTileTokens - 1) / kTileTokens;
  Stage<kDim, kWarps>(p, b, h, row0, 0, min(kTileTokens, p.tokens), gate_index0, gate_stride_kind,
                      smem);
  CpAsyncCommit();
  for (int i = 0; i < tiles; ++i) {
    const int t0 = i * kTileTokens, n = min(kTileTokens, p.tokens - t0);
    if (i + 1 < tiles) {
      const int t1 = t0 + kTileTokens;
      Stage<kDim, kWarps>(p, b, h, row0, t1, min(kTileTokens, p.tokens - t1), gate_index0,
                          gate_stride_kind, smem + ((i + 1) & 1) * L::kBufferFloats);
      CpAsyncCommit();
      CpAsyncWait<1>();
    } else {
      CpAsyncWait<0>();
    }
    __syncthreads();
    const float* buffer = smem + (i & 1) * L::kBufferFloats;
    const float* keys = buffer + L::kKeys + col0;
    const float* queries = buffer + L::kQueries + col0;
    const float* values = buffer + L::kValues;
    const float* gates = buffer + L::kGates;
    for (int u0 = 0; u0 < n;) {
      const int len = min(min(kGroup, n - u0), until_fire + 1);
      const bool fires = len == until_fire + 1;  // at the group's last token
      const int last = u0 + len - 1;

      // 1. This warp's share of E and Y over the group (columns past its
      // end repeat its last token and are never used).
      float e[kTokenTiles][4] = {}, y[kTokenTiles][4] = {};
#pragma unroll
      for (int j = 0; j < kColTiles; ++j) {
        Tf32Pair a[4];
        OperandA<kPrecise>(m[j], a);
#pragma unroll
        for (int nt = 0; nt < kTokenTiles; ++nt) {
          if (nt * 8 >= len) continue;
          const int tok = min(u0 + nt * 8 + g, last);
          const float2 kk =
              *reinterpret_cast<const float2*>(keys + tok * L::kStride + 8 * j + 2 * t4);
          const float2 qq =
              *reinterpret_cast<const float2*>(queries + tok * L::kStride + 8 * j + 2 * t4);
          MmaOperands<kPrecise>(e[nt], a, TfOperand<kPrecise>(kk.x), TfOperand<kPrecise>(kk.y));
          MmaOperands<kPrecise>(y[nt], a, TfOperand<kPrecise>(qq.x), TfOperand<kPrecise>(qq.y));
        }
      }
#pragma unroll
      for (int nt = 0; nt < kTokenTiles; ++nt) {
        if (nt * 8 >= len) continue;
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          partial(warp, 0, nt, c) = e[nt][c];
          partial(warp, 1, nt, c) = y[nt][c];
        }
      }
      __syncthreads();

      // 2. Entry c of the accumulator layout (row g + 8 (c >> 1), token
      // 2t + (c & 1) of a token tile): warp c sums the warps' E in warp
      // order and forms the error theta / p (E - v) (0 past the group's
      // end), warp 4 + c sums Y and stores the read (a fired token's read
      // waits for the new M).
      {
        const int c = warp & 3, rr = g + (c >> 1) * 8;
#pragma unroll
        for (int nt = 0; nt < kTokenTiles; ++nt) {
          const int u = nt * 8 + 2 * t4 + (c & 1), tok = u0 + u;
          if (warp < 4) {  // with four warps, each does both
            float err = 0.f;
            if (u < len) {
              float e = 0.f;
#pragma unroll
              for (int w = 0; w < kWarps; ++w) e += partial(w, 0, nt, c);
              err = (gates[tok * 4 + 1] * inv_period) * (e - values[tok * kRows + rr]);
            }
            errors[(nt * 4 + c) * 32 + lane] = err;
          }
          if ((kWarps == 4 || warp >= 4) && u < len && !(fires && u == len - 1)) {
            float y = 0.f;
#pragma unroll
            for (int w = 0; w < kWarps; ++w) y += partial(w, 1, nt, c);
            y_level[(size_t(b) * p.tokens + t0 + tok) * width + rr] = y;
          }
        }
      }
      __syncthreads();

      // 3. G += E' K over this warp's columns, the group's tokens as the k
      // index (2t, 2t + 1).
#pragma unroll
      for (int kt = 0; kt < kTokenTiles; ++kt) {
        if (kt * 8 >= len) continue;
        float err[4];
#pragma unroll
        for (int c = 0; c < 4; ++c) err[c] = errors[(kt * 4 + c) * 32 + lane];
        Tf32Pair a[4];
        OperandA<kPrecise>(err, a);
        const int ta = min(u0 + kt * 8 + 2 * t4, last), tb = min(ta + 1, last);
#pragma unroll
        for (int j = 0; j < kColTiles; ++j) {
          MmaOperands<kPrecise>(gr[j], a, TfOperand<kPrecise>(keys[ta * L::kStride + 8 * j + g]),
                                TfOperand<kPrecise>(keys[tb * L::kStride + 8 * j + g]));
        }
      }

      // 4. The fire, and the fired token's read with the new M: this
      // warp's columns, then the warps summed in order by warp 0. The next
      // write of `reads` follows the next group's barriers, which warp 0
      // passes only after reading them.
      if (fires) {
        const float alpha = gates[last * 4 + 0], eta = gates[last * 4 + 2];
        const float* q_last = queries + last * L::kStride + 2 * t4;
        float read_a = 0.f, read_b = 0.f;
#pragma unroll
        for (int j = 0; j < kColTiles; ++j) {
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            sv[j][c] = eta * sv[j][c] - gr[j][c];
            m[j][c] = alpha * m[j][c] + sv[j][c];
            gr[j][c] = 0.f;
          }
          const float2 qq = *reinterpret_cast<const float2*>(q_last + 8 * j);
          read_a = fmaf(m[j][0], qq.x, read_a);
          read_a = fmaf(m[j][1], qq.y, read_a);
          read_b = fmaf(m[j][2], qq.x, read_b);
          read_b = fmaf(m[j][3], qq.y, read_b);
        }
        read_a += __shfl_xor_sync(kFull, read_a, 1);
        read_a += __shfl_xor_sync(kFull, read_a, 2);
        read_b += __shfl_xor_sync(kFull, read_b, 1);
        read_b += __shfl_xor_sync(kFull, read_b, 2);
        if (t4 == 0) {
          reads[warp * kRows + g] = read_a;
          reads[warp * kRows + g + 8] = read_b;
        }
        __syncthreads();
        if (warp == 0 && lane < kRows) {
          float read = 0.f;
#pragma unroll
          for (int w = 0; w < kWarps; ++w) read += reads[w * kRows + lane];
          y_level[(size_t(b) * p.tokens + t0 + last) * width + lane] = read;
        }
        fired = true;
        until_fire = period - 1;
      } else {
        until_fire -= len;
      }
      u0 += len;
    }
    __syncthreads();  // buffer i & 1 is refilled by the next iteration
  }

  store(g_head, gr);
  if (fired) {
    store(m_head, m);
    store(s_head, sv);
  }
}

// Grid: x = blocks of 16 rows, y = (level of the call, head), z = session.
// The group size follows the level's period (uniform over the block).
// kPrecise: 3xTF32 products (float32 accuracy); else one TF32 product each
// (params.tf32).
template <int kDim, int kWarps, bool kPrecise>
__global__ void __launch_bounds__(32 * kWarps)
    CmsSpanTileKernel(const __grid_constant__ CmsSlowParams p) {
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  if (p.period[blockIdx.y / p.heads] <= 8) {
    SpanTiles<kDim, kWarps, 8, kPrecise>(p, smem);
  } else {
    SpanTiles<kDim, kWarps, 16, kPrecise>(p, smem);
  }
}

// The instantiations, for cms_row_block_launch.cuh.
struct SpanTileKernels {
  template <int kDim, int kWarps, bool kPrecise>
  static auto Kernel() {
    return CmsSpanTileKernel<kDim, kWarps, kPrecise>;
  }
  template <int kDim, int kWarps>
  static constexpr size_t SmemBytes() {
    return TileLayout<kDim, kWarps>::kSmemFloats * sizeof(float);
  }
};

}  // namespace

cudaError_t LaunchCmsSpanTileKernel(const CmsSlowParams& p, cudaStream_t stream) {
  return cms_launch::LaunchRowBlockKernel<SpanTileKernels>(p, stream);
}

}  // namespace hecate
