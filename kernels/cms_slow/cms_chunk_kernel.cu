// Slow CMS levels (period > 1) over a chunk, several spans at a time: the
// chunked form of kernels/cms_slow/NOTES.md ("Next"), checked in float64
// against the token loop by chunked_spans_check.py.
//
// A window is kW = 32 tokens between absolute positions that are multiples
// of kW (the chunk's first and last windows may be shorter). Inside it the
// level's spans (M frozen between fires) are J <= kW / 8 pieces, and with
// M_0, S_0, G_0 the state at the window's start and D_m = E'_m K_m span m's
// addition to G, every span's errors, every read and the final state are
// scalar combinations (coefficients from the fires' alpha and eta) of
//   - products of the window's keys and queries with M_0, S_0 and G_0,
//   - the key Gram blocks K_m K_n^T and K_m Q_n^T,
//   - the errors themselves, through a triangular solve of J steps.
// A block owns 16 value rows of one (session, level, head). A window's
// tokens sit at their positions modulo kW (the chunk's first window starts
// with empty positions), so spans start on 8-token tiles:
//   A. all products at once, each 16 x 8 (or 16 x 8 tokens of a Gram) tile
//      a whole m16n8k8 chain over d in one warp: no cross-warp sums;
//   B. the solve, tile by tile in one warp: a tile's errors from the
//      products plus mma of the earlier spans' errors with the key Gram;
//   C. the reads, a warp a tile (mma with the query Gram), and D. the new
//      M, S, G (E' scaled per span times K, mma), in the other warps.
// Three block barriers per window instead of three per span of the
// span-tile kernel (cms_span_tile_kernel.cu); products in 3xTF32 (float32
// accuracy) or one TF32 pass (`tf32`).
//
// Applies when every period p satisfies kW % p == 0 with p % 8 == 0, or
// p % kW == 0 (a fire then falls only at a window's end), and d is 64 or
// 128: CmsChunksSupport.
#include <cstdint>

#include "kernels/cms_slow/cms_row_block_launch.cuh"
#include "kernels/cms_slow/cms_slow_kernel.h"
#include "kernels/cp_async.cuh"
#include "kernels/mma_tf32.cuh"

namespace hecate {
namespace {

constexpr int kW = kCmsChunkWindow;  // tokens a window
constexpr int kRows = cms_launch::kBlockRows;  // value rows a block owns
constexpr int kMaxSpans = kW / 8;    // spans a window (periods >= 8)
constexpr int kBasis = 3 + kMaxSpans;  // M_0, S_0, G_0, D_0 .. D_{J-1}

// Products with the window-start state, by slot in the P array.
enum Product { kMK, kMQ, kSK, kSQ, kGK, kGQ, kProducts };

template <int kDim, int kWarps>
struct ChunkLayout {
  static constexpr int kThreads = 32 * kWarps;
  // Rows of d + 8 floats: a half-warp's 8-byte operand reads (rows g,
  // columns 2t, 2t + 1) and phase D's key reads (rows t, columns g) hit
  // different banks.
  static constexpr int kLd = kDim + 8;
  static constexpr int kPs = kW + 1;  // P rows
  static constexpr int kGs = kW + 4;  // Gram rows (the solve's B reads: 32 banks)
  static constexpr int kEs = kW + 4;  // error rows (an A operand in phase D)
  static constexpr int kKeys = 0;                         // [2][kW][kLd]
  static constexpr int kValues = kKeys + 2 * kW * kLd;    // [2][kW][kRows]
  static constexpr int kGates = kValues + 2 * kW * kRows;  // [2][kW][4]
  static constexpr int kQueries = kGates + 2 * kW * 4;    // [kW][kLd], one buffer
  static constexpr int kM = kQueries + kW * kLd;          // [kRows][kLd]
  static constexpr int kS = kM + kRows * kLd;
  static constexpr int kG = kS + kRows * kLd;
  static constexpr int kP = kG + kRows * kLd;               // [kProducts][kRows][kPs]
  static constexpr int kKK = kP + kProducts * kRows * kPs;  // [kW][kGs]
  static constexpr int kKQ = kKK + kW * kGs;                // [kW][kGs]
  static constexpr int kErr = kKQ + kW * kGs;               // [kRows][kEs]
  static constexpr int kCoefM = kErr + kRows * kEs;         // [kMaxSpans + 1][kBasis]
  static constexpr int kCoefS = kCoefM + (kMaxSpans + 1) * kBasis;
  static constexpr int kSmemFloats = kCoefS + (kMaxSpans + 1) * kBasis;
  // Phase D: column tiles of 8 a warp owns.
  static constexpr int kColTiles = kDim / 8 / kWarps;
};

// The spans of one window, by local position (absolute position modulo
// kW): periods below kW are 8 or 16 (span = position >> 3 or 4); from kW
// up a window holds one span, fired only at its end. Positions [0, pad)
// (the chunk's first window) and [end, kW) (its last) hold no token.
struct Window {
  int t0, n;    // chunk-local first token, tokens
  int pad, end;
  int shift;    // log2 p below kW, else -1
  int first_span, spans;  // the spans with tokens: [first_span, spans)
  bool last_fires;
  __device__ int Span(int u) const { return shift < 0 ? 0 : u >> shift; }
  __device__ int SpanLast(int s) const {
    return shift < 0 ? end - 1 : min(end - 1, ((s + 1) << shift) - 1);
  }
  __device__ bool Fires(int s) const { return s < spans - 1 || last_fires; }
  __device__ bool TileHasTokens(int tile) const { return tile * 8 + 7 >= pad && tile * 8 < end; }
  // The last span the reads of a tile combine: the spans before its own,
  // and its own at a fired token (that read sees the new M). A tile lies in
  // one span.
  __device__ int ReadLimit(int tile) const {
    const int s = Span(tile * 8);
    return Fires(s) && SpanLast(s) < tile * 8 + 8 ? s : s - 1;
  }
};

__device__ __forceinline__ Window MakeWindow(uint64_t pulse, int t0, int n, int pad, int p) {
  Window w;
  w.t0 = t0, w.n = n, w.pad = pad, w.end = pad + n;
  w.shift = p < kW ? (p == 8 ? 3 : 4) : -1;
  w.first_span = w.Span(pad);
  w.spans = w.Span(w.end - 1) + 1;
  w.last_fires = (pulse + uint64_t(t0 + n)) % uint64_t(p) == 0;
  return w;
}

// Tokens [t0, t0 + n) of session b, head h at positions pad.. : keys (or
// queries) whole, and with keys the values of this block's rows and the
// level's alpha, theta, eta. The other positions are zeroed: products over
// them stay finite and their errors are 0 (theta 0, value 0).
template <int kDim, int kWarps>
__device__ __forceinline__ void StageRows(const CmsSlowParams& p, const float* src, int b, int h,
                                          int t0, int pad, int n, float* dst) {
  using L = ChunkLayout<kDim, kWarps>;
  constexpr int kChunks = kDim / 4;
  for (int idx = threadIdx.x; idx < kW * kChunks; idx += L::kThreads) {
    const int u = idx / kChunks, c = (idx - u * kChunks) * 4, t = u - pad;
    float* to = dst + u * L::kLd + c;
    if (t >= 0 && t < n) {
      CpAsync16(to, src + (size_t(b) * p.tokens + t0 + t) * p.qkv_stride + h * kDim + c);
    } else {
      *reinterpret_cast<float4*>(to) = make_float4(0.f, 0.f, 0.f, 0.f);
    }
  }
}

template <int kDim, int kWarps>
__device__ __forceinline__ void StageKeys(const CmsSlowParams& p, int b, int h, int row0, int t0,
                                          int pad, int n, int gate_index0, int gate_stride_kind,
                                          float* smem, int buffer) {
  using L = ChunkLayout<kDim, kWarps>;
  StageRows<kDim, kWarps>(p, p.k, b, h, t0, pad, n, smem + L::kKeys + buffer * kW * L::kLd);
  float* values = smem + L::kValues + buffer * kW * kRows;
  for (int idx = threadIdx.x; idx < kW * (kRows / 4); idx += L::kThreads) {
    const int u = idx / (kRows / 4), c = (idx % (kRows / 4)) * 4, t = u - pad;
    if (t >= 0 && t < n) {
      CpAsync16(values + u * kRows + c,
                p.v + (size_t(b) * p.tokens + t0 + t) * p.qkv_stride + h * kDim + row0 + c);
    } else {
      *reinterpret_cast<float4*>(values + u * kRows + c) = make_float4(0.f, 0.f, 0.f, 0.f);
    }
  }
  float* gates = smem + L::kGates + buffer * kW * 4;
  for (int idx = threadIdx.x; idx < kW * 3; idx += L::kThreads) {
    const int u = idx / 3, gate = idx % 3, t = u - pad;
    if (t >= 0 && t < n) {
      CpAsync4(gates + u * 4 + gate, p.gates + (size_t(b) * p.tokens + t0 + t) * p.gate_stride +
                                         gate_index0 + gate * gate_stride_kind);
    } else {
      gates[u * 4 + gate] = 0.f;
    }
  }
}

// out[i] = A_i B_i^T for kN 16 x 8 tiles over k = kDim: A_i rows a[i]
// (16), B_i rows b[i] (8), rows of ld floats in shared memory. kShare: the
// A (1) or B (2) operand is the same for all, loaded and split once. The
// k index is read permuted (t as column 2t, t + 4 as 2t + 1: one 8-byte
// load per row). 3xTF32 keeps each of its three terms in its own
// accumulator (independent mma chains), summed small terms first; one
// TF32 pass alternates two.
template <int kDim, bool kPrecise, int kN, int kShare>
__device__ __forceinline__ void TileProducts(const float* const (&a)[kN],
                                             const float* const (&b)[kN], int ld,
                                             float (&out)[kN][4]) {
  constexpr int kTerms = kPrecise ? 3 : 2;
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  float acc[kN][kTerms][4] = {};
#pragma unroll 2
  for (int k = 0; k < kDim; k += 8) {
    Tf32Pair x[kN][4], y[kN][2];
#pragma unroll
    for (int i = 0; i < kN; ++i) {
      if (kShare != 1 || i == 0) {
        const float2 r0 = *reinterpret_cast<const float2*>(a[i] + g * ld + k + 2 * t);
        const float2 r1 = *reinterpret_cast<const float2*>(a[i] + (g + 8) * ld + k + 2 * t);
        x[i][0] = TfOperand<kPrecise>(r0.x), x[i][1] = TfOperand<kPrecise>(r1.x);
        x[i][2] = TfOperand<kPrecise>(r0.y), x[i][3] = TfOperand<kPrecise>(r1.y);
      } else {
#pragma unroll
        for (int c = 0; c < 4; ++c) x[i][c] = x[0][c];
      }
      if (kShare != 2 || i == 0) {
        const float2 c0 = *reinterpret_cast<const float2*>(b[i] + g * ld + k + 2 * t);
        y[i][0] = TfOperand<kPrecise>(c0.x), y[i][1] = TfOperand<kPrecise>(c0.y);
      } else {
        y[i][0] = y[0][0], y[i][1] = y[0][1];
      }
    }
#pragma unroll
    for (int i = 0; i < kN; ++i) {
      if constexpr (kPrecise) {
        MmaTf32(acc[i][0], x[i][0].lo, x[i][1].lo, x[i][2].lo, x[i][3].lo, y[i][0].hi, y[i][1].hi);
        MmaTf32(acc[i][1], x[i][0].hi, x[i][1].hi, x[i][2].hi, x[i][3].hi, y[i][0].lo, y[i][1].lo);
        MmaTf32(acc[i][2], x[i][0].hi, x[i][1].hi, x[i][2].hi, x[i][3].hi, y[i][0].hi, y[i][1].hi);
      } else {
        MmaTf32(acc[i][(k >> 3) & 1], x[i][0].hi, x[i][1].hi, x[i][2].hi, x[i][3].hi,
                y[i][0].hi, y[i][1].hi);
      }
    }
  }
#pragma unroll
  for (int i = 0; i < kN; ++i) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      out[i][c] = kPrecise ? (acc[i][0][c] + acc[i][1][c]) + acc[i][2][c]
                           : acc[i][0][c] + acc[i][1][c];
    }
  }
}

// Stores a 16 x 8 accumulator tile at `at` (row stride `stride`).
__device__ __forceinline__ void StoreTile(const float (&acc)[4], float* at, int stride) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  float* p0 = at + g * stride + 2 * t;
  p0[0] = acc[0];
  p0[1] = acc[1];
  p0[8 * stride] = acc[2];
  p0[8 * stride + 1] = acc[3];
}

// One (session, level, head, 16 value rows) over the whole chunk, window by
// window. M, S, G live in shared memory between windows.
template <int kDim, int kWarps, bool kPrecise>
__device__ __forceinline__ void Chunks(const CmsSlowParams& p, float* smem) {
  using L = ChunkLayout<kDim, kWarps>;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int row0 = blockIdx.x * kRows;
  const int h = blockIdx.y % p.heads, s = blockIdx.y / p.heads;
  const int b = blockIdx.z;
  const int width = p.heads * kDim;
  const int level = p.level[s], period = p.period[s];
  const uint64_t pulse = p.pulse[b];
  const float inv_period = 1.0f / float(period);
  const int gate_index0 = level * p.heads + h;
  const int gate_stride_kind = p.levels * p.heads;
  float* y_level = p.y + s * p.y_plane + h * kDim + row0;

  float* base = p.states[b];
  const size_t head = size_t(h) * kDim * kDim + size_t(row0) * kDim;
  float* const globals[3] = {base + p.m_offset[s] + head, base + p.s_offset[s] + head,
                             base + p.g_offset[s] + head};
  float* m_mat = smem + L::kM;
  float* s_mat = smem + L::kS;
  float* g_mat = smem + L::kG;
  float* queries = smem + L::kQueries;
  float* products = smem + L::kP;
  float* kk = smem + L::kKK;
  float* kq = smem + L::kKQ;
  float* errors = smem + L::kErr;
  float* coef_m = smem + L::kCoefM;
  float* coef_s = smem + L::kCoefS;
  auto product = [&](int which, int r, int u) -> float& {
    return products[(which * kRows + r) * L::kPs + u];
  };

  for (int idx = threadIdx.x; idx < 3 * kRows * (kDim / 4); idx += L::kThreads) {
    const int mat = idx / (kRows * (kDim / 4)), rest = idx % (kRows * (kDim / 4));
    const int r = rest / (kDim / 4), c = (rest % (kDim / 4)) * 4;
    *reinterpret_cast<float4*>(smem + L::kM + mat * kRows * L::kLd + r * L::kLd + c) =
        *reinterpret_cast<const float4*>(globals[mat] + r * kDim + c);
  }

  // G may be nonzero until the level fires (MODEL.md zeroes it there).
  bool g_live = true;
  int t0 = 0, pad = int(pulse % uint64_t(kW));
  int n = min(p.tokens, kW - pad);
  StageKeys<kDim, kWarps>(p, b, h, row0, 0, pad, n, gate_index0, gate_stride_kind, smem, 0);
  StageRows<kDim, kWarps>(p, p.q, b, h, 0, pad, n, queries);
  CpAsyncCommit();
  for (int window = 0; t0 < p.tokens; ++window) {
    const int buffer = window & 1;
    CpAsyncWait<0>();
    __syncthreads();  // 1: this window staged; the last window's C and D done
    const int t1 = t0 + n, n1 = min(p.tokens - t1, kW);
    if (n1 > 0) {
      StageKeys<kDim, kWarps>(p, b, h, row0, t1, 0, n1, gate_index0, gate_stride_kind, smem,
                              buffer ^ 1);
      CpAsyncCommit();
    }
    const Window w = MakeWindow(pulse, t0, n, pad, period);
    const bool fires_any = w.spans - w.first_span > 1 || w.last_fires;
    const float* keys = smem + L::kKeys + buffer * kW * L::kLd;
    const float* values = smem + L::kValues + buffer * kW * kRows;
    const float* gates = smem + L::kGates + buffer * kW * 4;

    // The coefficients of M_s and S_s over the basis (python: coef_m,
    // coef_s; row s: before span s, rows first_span..spans), a lane a basis
    // element; read after barrier 2.
    if (warp == 0 && lane < kBasis) {
      float cm = lane == 0 ? 1.f : 0.f, cs = lane == 1 ? 1.f : 0.f;
      coef_m[w.first_span * kBasis + lane] = cm;
      coef_s[w.first_span * kBasis + lane] = cs;
      for (int sn = w.first_span; sn < w.spans; ++sn) {
        if (w.Fires(sn)) {
          const int last = w.SpanLast(sn);
          cs = gates[last * 4 + 2] * cs;
          if (lane == 2 && sn == w.first_span) cs -= 1.f;  // G_0 belongs to the first span
          if (lane == 3 + sn) cs -= 1.f;
          cm = gates[last * 4 + 0] * cm + cs;
        }
        coef_m[(sn + 1) * kBasis + lane] = cm;
        coef_s[(sn + 1) * kBasis + lane] = cs;
      }
    }

    // A. Products with the window-start state (a job: a token tile of K
    // or Q times M_0 and, where needed, S_0 and G_0) and Gram tiles (a job:
    // 16 keys times 8 keys and/or 8 queries), one warp a job. Which are
    // needed is uniform over the block.
    const bool has_sk = w.spans - w.first_span > 1, has_sq = fires_any;
    const bool has_gk = g_live && has_sk, has_gq = g_live && fires_any;
    {
      int job = 0;
      auto mine = [&]() { return (job++ % kWarps) == warp; };
      for (int tt = 0; tt < kW / 8; ++tt) {
        if (!w.TileHasTokens(tt)) continue;
        for (int side = 0; side < 2; ++side) {  // keys, queries
          if (!mine()) continue;
          const bool with_s = side == 0 ? has_sk : has_sq;
          const bool with_g = side == 0 ? has_gk : has_gq;
          const float* bm = (side == 0 ? keys : queries) + tt * 8 * L::kLd;
          float* out = products + tt * 8;
          const int first = side == 0 ? kMK : kMQ;  // M, S, G slots step by 2
          if (with_g) {
            float acc[3][4];
            TileProducts<kDim, kPrecise, 3, 2>({m_mat, s_mat, g_mat}, {bm, bm, bm}, L::kLd, acc);
            for (int i = 0; i < 3; ++i) StoreTile(acc[i], out + (first + 2 * i) * kRows * L::kPs, L::kPs);
          } else if (with_s) {
            float acc[2][4];
            TileProducts<kDim, kPrecise, 2, 2>({m_mat, s_mat}, {bm, bm}, L::kLd, acc);
            for (int i = 0; i < 2; ++i) StoreTile(acc[i], out + (first + 2 * i) * kRows * L::kPs, L::kPs);
          } else {
            float acc[1][4];
            TileProducts<kDim, kPrecise, 1, 0>({m_mat}, {bm}, L::kLd, acc);
            StoreTile(acc[0], out + first * kRows * L::kPs, L::kPs);
          }
        }
      }
      // Gram tile (rt, ct): needed where column tile ct's errors combine a
      // span with tokens in row tile rt (the spans before its own: keys) or
      // its reads do (ReadLimit: queries).
      for (int rt = 0; rt < kW / 16; ++rt) {
        if (rt * 16 + 15 < w.pad || rt * 16 >= w.end) continue;
        const int first_span = w.Span(max(rt * 16, w.pad));
        for (int ct = 0; ct < kW / 8; ++ct) {
          if (!w.TileHasTokens(ct)) continue;
          const bool with_kk = w.Span(ct * 8) > first_span;
          const bool with_kq = w.ReadLimit(ct) >= first_span;
          if (!(with_kk || with_kq) || !mine()) continue;
          const float* am = keys + rt * 16 * L::kLd;
          const float* kb = keys + ct * 8 * L::kLd;
          const float* qb = queries + ct * 8 * L::kLd;
          const int at = rt * 16 * L::kGs + ct * 8;
          if (with_kk && with_kq) {
            float acc[2][4];
            TileProducts<kDim, kPrecise, 2, 1>({am, am}, {kb, qb}, L::kLd, acc);
            StoreTile(acc[0], kk + at, L::kGs);
            StoreTile(acc[1], kq + at, L::kGs);
          } else {
            float acc[1][4];
            TileProducts<kDim, kPrecise, 1, 0>({am}, {with_kk ? kb : qb}, L::kLd, acc);
            StoreTile(acc[0], (with_kk ? kk : kq) + at, L::kGs);
          }
        }
      }
    }
    __syncthreads();  // 2: products, Gram tiles, coefficients
    if (n1 > 0) {     // queries were read only by phase A
      StageRows<kDim, kWarps>(p, p.q, b, h, t1, 0, n1, queries);
      CpAsyncCommit();
    }

    // The accumulator entry c of a 16 x 8 tile: row g + 8 (c >> 1), column
    // 2 t4 + (c & 1). As an A operand (k index = tokens) it is read with
    // the k permutation t -> 2t, t + 4 -> 2t + 1: a0 = c0, a1 = c2, a2 = c1,
    // a3 = c3; a B operand over the same tokens uses rows 2t and 2t + 1.
    auto base_from = [&](const float* c, int tile, int first, bool with_s, bool with_g,
                         float (&out)[4]) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = g + 8 * (e >> 1), u = tile * 8 + 2 * t4 + (e & 1);
        float x = c[0] * product(first, r, u);
        if (with_s) x += c[1] * product(first + 2, r, u);
        if (with_g) x += c[2] * product(first + 4, r, u);
        out[e] = x;
      }
    };

    // B. The errors, tile after tile, in warp 0: a tile's errors are its
    // products combined for its span plus, from every earlier span's tiles,
    // coefficient x E' (mma) x the key Gram block.
    if (warp == 0) {
      float errs[kW / 8][4];
#pragma unroll
      for (int tile = 0; tile < kW / 8; ++tile) {
        float e[4] = {0.f, 0.f, 0.f, 0.f};
        if (w.TileHasTokens(tile)) {
          const int sn = w.Span(tile * 8);
          const float* c = coef_m + sn * kBasis;
          float prior[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
          for (int tp = 0; tp < tile; ++tp) {
            if (!w.TileHasTokens(tp) || w.Span(tp * 8) >= sn) continue;
            const float gm = c[3 + w.Span(tp * 8)];
            const Tf32Pair a[4] = {
                TfOperand<kPrecise>(gm * errs[tp][0]), TfOperand<kPrecise>(gm * errs[tp][2]),
                TfOperand<kPrecise>(gm * errs[tp][1]), TfOperand<kPrecise>(gm * errs[tp][3])};
            const float* gram = kk + (tp * 8 + 2 * t4) * L::kGs + tile * 8 + g;
            MmaOperands<kPrecise>(prior, a, TfOperand<kPrecise>(gram[0]),
                                  TfOperand<kPrecise>(gram[L::kGs]));
          }
          float base[4];
          base_from(c, tile, kMK, has_sk, has_gk, base);
#pragma unroll
          for (int x = 0; x < 4; ++x) {
            const int r = g + 8 * (x >> 1), u = tile * 8 + 2 * t4 + (x & 1);
            e[x] = (gates[u * 4 + 1] * inv_period) * ((base[x] + prior[x]) - values[u * kRows + r]);
          }
        }
#pragma unroll
        for (int x = 0; x < 4; ++x) errs[tile][x] = e[x];
        float* at = errors + g * L::kEs + tile * 8 + 2 * t4;
        *reinterpret_cast<float2*>(at) = make_float2(e[0], e[1]);
        *reinterpret_cast<float2*>(at + 8 * L::kEs) = make_float2(e[2], e[3]);
      }
    }
    __syncthreads();  // 3: every tile's errors

    // C. The reads, warp `tile` (< 4) a tile: the products combined for its
    // span plus the earlier spans' E' x the query Gram; the fired token's
    // column (the span's last) with the next span's coefficients and its
    // own span's errors too.
    if (warp < kW / 8 && w.TileHasTokens(warp)) {
      const int tile = warp, sn = w.Span(tile * 8), limit = w.ReadLimit(tile);
      const bool fire_here = limit == sn;
      const float* c = coef_m + sn * kBasis;
      const float* cf = coef_m + (sn + 1) * kBasis;
      float main[4] = {0.f, 0.f, 0.f, 0.f}, fire[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
      for (int tp = 0; tp <= tile && tp < kW / 8; ++tp) {
        if (!w.TileHasTokens(tp)) continue;
        const int sp = w.Span(tp * 8);
        if (sp > limit) continue;
        const float2 e0 = *reinterpret_cast<const float2*>(errors + g * L::kEs + tp * 8 + 2 * t4);
        const float2 e1 =
            *reinterpret_cast<const float2*>(errors + (g + 8) * L::kEs + tp * 8 + 2 * t4);
        const float* gram = kq + (tp * 8 + 2 * t4) * L::kGs + tile * 8 + g;
        const Tf32Pair b0 = TfOperand<kPrecise>(gram[0]), b1 = TfOperand<kPrecise>(gram[L::kGs]);
        if (sp < sn) {
          const float gm = c[3 + sp];
          const Tf32Pair a[4] = {TfOperand<kPrecise>(gm * e0.x), TfOperand<kPrecise>(gm * e1.x),
                                 TfOperand<kPrecise>(gm * e0.y), TfOperand<kPrecise>(gm * e1.y)};
          MmaOperands<kPrecise>(main, a, b0, b1);
        }
        if (fire_here) {
          const float gm = cf[3 + sp];
          const Tf32Pair a[4] = {TfOperand<kPrecise>(gm * e0.x), TfOperand<kPrecise>(gm * e1.x),
                                 TfOperand<kPrecise>(gm * e0.y), TfOperand<kPrecise>(gm * e1.y)};
          MmaOperands<kPrecise>(fire, a, b0, b1);
        }
      }
      float base[4], base_fire[4];
      base_from(c, tile, kMQ, has_sq, has_gq, base);
      if (fire_here) base_from(cf, tile, kMQ, has_sq, has_gq, base_fire);
      const int fired = fire_here ? w.SpanLast(sn) : -1;
#pragma unroll
      for (int x = 0; x < 4; ++x) {
        const int r = g + 8 * (x >> 1), u = tile * 8 + 2 * t4 + (x & 1);
        if (u < w.pad || u >= w.end) continue;
        const float y = u == fired ? base_fire[x] + fire[x] : base[x] + main[x];
        y_level[(size_t(b) * p.tokens + t0 + u - w.pad) * width + r] = y;
      }
    }

    // D. The state after the window: M_J = cm_J . basis, S_J = cs_J . basis,
    // G = the open span's D (plus G_0 if it is the first span), each D-part
    // one product (errors scaled per token) x K over this warp's columns.
    {
      constexpr int kColTiles = L::kColTiles;
      const int col0 = warp * kColTiles * 8;
      const float* cmj = coef_m + w.spans * kBasis;
      const float* csj = coef_s + w.spans * kBasis;
      const int open = w.last_fires ? -1 : w.spans - 1;
      float am[kColTiles][4] = {}, as[kColTiles][4] = {}, ag[kColTiles][4] = {};
      for (int k0 = w.pad & ~7; k0 < w.end; k0 += 8) {
        const int ua = k0 + t4, ub = ua + 4;
        const int sa = w.Span(ua), sb = w.Span(ub);
        const float e[4] = {errors[g * L::kEs + ua], errors[(g + 8) * L::kEs + ua],
                            errors[g * L::kEs + ub], errors[(g + 8) * L::kEs + ub]};
        Tf32Pair xm[4], xs[4], xg[4];
        if (fires_any) {
          const float ma = cmj[3 + sa], mb = cmj[3 + sb], sa_c = csj[3 + sa], sb_c = csj[3 + sb];
          xm[0] = TfOperand<kPrecise>(ma * e[0]), xm[1] = TfOperand<kPrecise>(ma * e[1]);
          xm[2] = TfOperand<kPrecise>(mb * e[2]), xm[3] = TfOperand<kPrecise>(mb * e[3]);
          xs[0] = TfOperand<kPrecise>(sa_c * e[0]), xs[1] = TfOperand<kPrecise>(sa_c * e[1]);
          xs[2] = TfOperand<kPrecise>(sb_c * e[2]), xs[3] = TfOperand<kPrecise>(sb_c * e[3]);
        }
        if (open >= 0) {
          const float ga = sa == open ? 1.f : 0.f, gb = sb == open ? 1.f : 0.f;
          xg[0] = TfOperand<kPrecise>(ga * e[0]), xg[1] = TfOperand<kPrecise>(ga * e[1]);
          xg[2] = TfOperand<kPrecise>(gb * e[2]), xg[3] = TfOperand<kPrecise>(gb * e[3]);
        }
#pragma unroll
        for (int j = 0; j < kColTiles; ++j) {
          const int col = col0 + j * 8 + g;
          const Tf32Pair b0 = TfOperand<kPrecise>(keys[ua * L::kLd + col]);
          const Tf32Pair b1 = TfOperand<kPrecise>(keys[ub * L::kLd + col]);
          if (fires_any) {
            MmaOperands<kPrecise>(am[j], xm, b0, b1);
            MmaOperands<kPrecise>(as[j], xs, b0, b1);
          }
          if (open >= 0) MmaOperands<kPrecise>(ag[j], xg, b0, b1);
        }
      }
      const bool g0_open = open == w.first_span;  // G_0 not yet consumed
#pragma unroll
      for (int j = 0; j < kColTiles; ++j) {
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int at = (g + 8 * (c >> 1)) * L::kLd + col0 + j * 8 + 2 * t4 + (c & 1);
          const float m0 = m_mat[at], s0 = s_mat[at], g0 = g_mat[at];
          if (fires_any) {
            float mn = cmj[0] * m0 + cmj[1] * s0, sn = csj[1] * s0;
            if (g_live) mn += cmj[2] * g0, sn += csj[2] * g0;
            m_mat[at] = mn + am[j][c];
            s_mat[at] = sn + as[j][c];
          }
          if (open >= 0) {
            g_mat[at] = (g0_open ? g0 : 0.f) + ag[j][c];
          } else {
            g_mat[at] = 0.f;
          }
        }
      }
    }
    g_live = !w.last_fires;
    t0 = t1;
    n = n1;
    pad = 0;
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < 3 * kRows * (kDim / 4); idx += L::kThreads) {
    const int mat = idx / (kRows * (kDim / 4)), rest = idx % (kRows * (kDim / 4));
    const int r = rest / (kDim / 4), c = (rest % (kDim / 4)) * 4;
    *reinterpret_cast<float4*>(globals[mat] + r * kDim + c) =
        *reinterpret_cast<const float4*>(smem + L::kM + mat * kRows * L::kLd + r * L::kLd + c);
  }
}

// Grid: x = blocks of 16 rows, y = (level of the call, head), z = session.
// Two blocks a multiprocessor (shared memory allows two): at most 128
// registers a thread with eight warps.
template <int kDim, int kWarps, bool kPrecise>
__global__ void __launch_bounds__(32 * kWarps, 2)
    CmsChunkKernel(const __grid_constant__ CmsSlowParams p) {
  extern __shared__ float4 smem4[];
  Chunks<kDim, kWarps, kPrecise>(p, reinterpret_cast<float*>(smem4));
}

// The instantiations, for cms_row_block_launch.cuh.
struct ChunkKernels {
  template <int kDim, int kWarps, bool kPrecise>
  static auto Kernel() {
    return CmsChunkKernel<kDim, kWarps, kPrecise>;
  }
  template <int kDim, int kWarps>
  static constexpr size_t SmemBytes() {
    return ChunkLayout<kDim, kWarps>::kSmemFloats * sizeof(float);
  }
};

}  // namespace

cudaError_t LaunchCmsChunkKernel(const CmsSlowParams& p, cudaStream_t stream) {
  return cms_launch::LaunchRowBlockKernel<ChunkKernels>(p, stream);
}

}  // namespace hecate
