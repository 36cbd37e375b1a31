// Phase 1 of the chunked gated delta rule: everything within a chunk that
// does not depend on the state entering it. One block per (chunk, session,
// head); all chunks run in parallel.
//
// For a chunk of C = 64 tokens with cumulative log-decay g_r = sum_{s<=r}
// log alpha_s and gamma_r = exp(g_r), the token-by-token recurrence equals
// (M0 = state entering the chunk, rows are tokens):
//   A[r][s] = theta_r exp(g_r - g_s) (k_r . k_s)            s < r
//   [W | U~] = (I + A)^-1 [diag(theta gamma) K | diag(theta) V]   (UT form)
//   P[r][s] = exp(g_r - g_s) (q_r . k_s)                    s <= r
//   Q' = diag(gamma) Q - P W,   Y0 = P U~
//   U  = U~ - W M0^T     (the delta-rule corrections, "new values")
//   Y  = Y0 + Q' M0^T    (outputs y_r = M_r q_r)
//   M  = gamma_last M0 + U^T diag(exp(g_last - g)) K
// This kernel writes W, Q', U~, Y0, the key decays exp(g_last - g_s) and
// gamma_last, and copies K next to W and Q' (the scan's tile, laid out as
// the scan's shared memory: gdr_prefill_kernel.h); phase 2
// (gdr_prefill_scan.cu) applies the last three lines.
//
// Shape of the work: A and P are register-tiled products (tiles wholly above
// the diagonal skipped). (I + A)^-1 B is a blocked forward substitution in
// place on B, 16 rows at a time: a small product with the rows already
// solved, then a 16-step substitution with each thread owning one column.
// P X is a register-tiled product over the lower triangle. W and U~ are done
// one after the other in the same buffer. All loops stay rolled where their
// bodies are large: fully unrolled 64 x 64 triangles overflow the
// instruction cache (measured: a third of all stalls were instruction fetch).
// A partial last chunk is padded with alpha = 1, theta = 0 and zero vectors,
// which leaves every padded row of W, U~, Q', Y0 zero.
#include "kernels/gdr_prefill/cp_async.cuh"
#include "kernels/gdr_prefill/gdr_prefill_kernel.h"

namespace hecate {
namespace {

constexpr int C = kGdrChunk;
constexpr int kThreads = 256;
constexpr int kTri = C + 4;  // A and P row stride, 16-byte aligned

__device__ __forceinline__ float Dot4(float4 a, float4 b, float acc) {
  acc = fmaf(a.x, b.x, acc);
  acc = fmaf(a.y, b.y, acc);
  acc = fmaf(a.z, b.z, acc);
  return fmaf(a.w, b.w, acc);
}
__device__ __forceinline__ void Fma4(float a, float4 x, float4& acc) {
  acc.x = fmaf(a, x.x, acc.x);
  acc.y = fmaf(a, x.y, acc.y);
  acc.z = fmaf(a, x.z, acc.z);
  acc.w = fmaf(a, x.w, acc.w);
}
__device__ __forceinline__ float4 Load4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}
__device__ __forceinline__ void Store4(float* p, float4 v) {
  *reinterpret_cast<float4*>(p) = v;
}

// X = (I + A)^-1 X in place (A strictly lower, [C][kTri]; X [C][DS]).
template <int D>
__device__ void BlockForwardSubstitution(const float* as, float* x) {
  constexpr int DS = D + 4, G = D / 4;
  const int t = threadIdx.x;
  for (int block = 0; block < C / 16; ++block) {
    const int r0 = block * 16;
    if (block > 0) {  // rows r0..r0+15 -= A[rows][0:r0] X[0:r0]
      for (int idx = t; idx < 16 * G; idx += kThreads) {
        const int r = r0 + idx / G, c = (idx % G) * 4;
        float4 acc = Load4(x + r * DS + c);
        for (int k = 0; k < r0; ++k) Fma4(-as[r * kTri + k], Load4(x + k * DS + c), acc);
        Store4(x + r * DS + c, acc);
      }
      __syncthreads();
    }
    if (t < D) {  // the 16 x 16 diagonal block, one column per thread
      float col[16];
#pragma unroll
      for (int r = 0; r < 16; ++r) col[r] = x[(r0 + r) * DS + t];
#pragma unroll
      for (int r = 1; r < 16; ++r) {
#pragma unroll
        for (int s = 0; s < r; ++s) col[r] = fmaf(-as[(r0 + r) * kTri + r0 + s], col[s], col[r]);
      }
#pragma unroll
      for (int r = 0; r < 16; ++r) x[(r0 + r) * DS + t] = col[r];
    }
    __syncthreads();
  }
}

// Z = P X over the lower triangle (P[r][k] = 0 for k > r). Rows come in
// groups of RG; thread `pair` owns group `pair` and group NG - 1 - pair, so
// every thread walks the same number of k steps (a plain row split leaves
// the first warps idle at the barrier while the last ones work). Column
// group cg is the float4 at column 4 cg.
template <int D>
struct LowerProductShape {
  static constexpr int RG = D == 128 ? 4 : 2;  // rows per group
  static constexpr int NG = C / RG;             // groups
  static_assert((NG / 2) * (D / 4) == kThreads, "one (pair, cg) per thread");
};

template <int D>
__device__ void LowerProduct(const float* ps, const float* x, int pair, int cg,
                             float4 (&lo)[LowerProductShape<D>::RG],
                             float4 (&hi)[LowerProductShape<D>::RG]) {
  constexpr int DS = D + 4;
  constexpr int RG = LowerProductShape<D>::RG, NG = LowerProductShape<D>::NG;
  const int lo_row = RG * pair, hi_row = RG * (NG - 1 - pair);
#pragma unroll
  for (int i = 0; i < RG; ++i) lo[i] = hi[i] = make_float4(0.f, 0.f, 0.f, 0.f);
  int k = 0;
#pragma unroll 2
  for (; k < lo_row + RG; ++k) {
    const float4 xv = Load4(x + k * DS + cg * 4);
#pragma unroll
    for (int i = 0; i < RG; ++i) {
      Fma4(ps[(lo_row + i) * kTri + k], xv, lo[i]);
      Fma4(ps[(hi_row + i) * kTri + k], xv, hi[i]);
    }
  }
#pragma unroll 2
  for (; k < hi_row + RG; ++k) {
    const float4 xv = Load4(x + k * DS + cg * 4);
#pragma unroll
    for (int i = 0; i < RG; ++i) Fma4(ps[(hi_row + i) * kTri + k], xv, hi[i]);
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads, 2)
    GdrPrefillChunkKernel(GdrPrefillParams p) {
  constexpr int DS = D + 4;  // 4 x odd words: conflict-free column walks
  constexpr int G = D / 4;
  extern __shared__ float4 smem4[];
  float* buf = reinterpret_cast<float*>(smem4);  // [C][DS] K, then X
  float* qs = buf + C * DS;                      // [C][DS]
  float* as = qs + C * DS;                       // [C][kTri]
  float* ps = as + C * kTri;                     // [C][kTri]
  float* gs = ps + C * kTri;                     // [C] cumulative log decay
  float* th = gs + C;                            // [C] theta

  const int chunk = blockIdx.x;
  const int bh = blockIdx.y;
  const int b = bh / p.heads;
  const int h = bh % p.heads;
  const int t0 = chunk * C;
  const int len = min(C, p.tokens - t0);
  const int t = threadIdx.x;
  const size_t token0 = size_t(b) * p.tokens + t0;
  const size_t head_at = size_t(h) * D;

  // 1. Keys, queries (asynchronous, all in flight at once), gates; padded
  // rows are zero / alpha 1 / theta 0.
  for (int idx = t; idx < C * G; idx += kThreads) {
    const int r = idx / G, c = (idx % G) * 4;
    const size_t at = r < len ? (token0 + r) * p.qkv_stride + head_at + c : 0;
    CpAsync16(buf + r * DS + c, p.k + at, r < len ? 16 : 0);
    CpAsync16(qs + r * DS + c, p.q + at, r < len ? 16 : 0);
  }
  CpAsyncCommit();
  if (t < C) {
    float alpha = 1.f, theta = 0.f;
    if (t < len) {
      const size_t at = (token0 + t) * p.gate_stride + h;
      alpha = __ldg(p.alpha + at);
      theta = __ldg(p.theta + at);
    }
    // alpha == 0 exactly would make exp(g_r - g_s) 0/0; 1e-30 differs from
    // it by far less than float rounding of anything it multiplies.
    float g = logf(fmaxf(alpha, 1e-30f));
    const int lane = t & 31;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const float up = __shfl_up_sync(0xFFFFFFFFu, g, o);
      if (lane >= o) g += up;
    }
    gs[t] = g;
    th[t] = theta;
  }
  CpAsyncWait<0>();
  __syncthreads();
  if (t >= 32 && t < C) gs[t] += gs[31];
  __syncthreads();

  // 2. A = K K^T and P = Q K^T: 4x4 tiles at rows tr + 16i, cols tc + 16j;
  // sub-tiles with i < j lie wholly above the diagonal and are skipped.
  {
    const int tr = t / 16, tc = t % 16;
    float a[4][4] = {}, pq[4][4] = {};
    for (int c = 0; c < D; c += 4) {
      float4 kr[4], qr[4], kc[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        kr[i] = Load4(buf + (tr + 16 * i) * DS + c);
        qr[i] = Load4(qs + (tr + 16 * i) * DS + c);
        kc[i] = Load4(buf + (tc + 16 * i) * DS + c);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j <= i; ++j) {
          a[i][j] = Dot4(kr[i], kc[j], a[i][j]);
          pq[i][j] = Dot4(qr[i], kc[j], pq[i][j]);
        }
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int r = tr + 16 * i, s = tc + 16 * j;
        const float decay = s <= r ? expf(gs[r] - gs[s]) : 0.f;
        as[r * kTri + s] = s < r ? th[r] * decay * a[i][j] : 0.f;
        ps[r * kTri + s] = s <= r ? decay * pq[i][j] : 0.f;
      }
    }
  }
  __syncthreads();

  const int chunks = (p.tokens + C - 1) / C;
  float* ws = p.workspace + (size_t(bh) * chunks + chunk) * GdrPrefillChunkFloats(D);
  float* tile = ws;  // [3C][DS]: W, Q', K
  float* ut_out = ws + GdrPrefillUtOffset(D);
  // K into the tile (padded rows are already zero), and the zero pads.
  for (int idx = t; idx < C * G; idx += kThreads) {
    const int r = idx / G, c = (idx % G) * 4;
    Store4(tile + (2 * C + r) * DS + c, Load4(buf + r * DS + c));
  }
  for (int r = t; r < 3 * C; r += kThreads) {
    Store4(tile + r * DS + D, make_float4(0.f, 0.f, 0.f, 0.f));
  }
  for (int half = 0; half < 2; ++half) {  // 0: W from keys, 1: U~ from values
    // 3. Right-hand side in buf: theta gamma K (K is already there), or
    // theta V (fetched asynchronously into buf, zeros for padding).
    if (half == 1) {
      for (int idx = t; idx < C * G; idx += kThreads) {
        const int r = idx / G, c = (idx % G) * 4;
        const size_t at = r < len ? (token0 + r) * p.qkv_stride + head_at + c : 0;
        CpAsync16(buf + r * DS + c, p.v + at, r < len ? 16 : 0);
      }
      CpAsyncCommit();
      CpAsyncWait<0>();
      __syncthreads();
    }
    for (int idx = t; idx < C * G; idx += kThreads) {
      const int r = idx / G, c = (idx % G) * 4;
      const float scale = half == 0 ? th[r] * expf(gs[r]) : th[r];
      const float4 v = Load4(buf + r * DS + c);
      Store4(buf + r * DS + c, make_float4(v.x * scale, v.y * scale, v.z * scale, v.w * scale));
    }
    __syncthreads();
    // 4. X = (I + A)^-1 rhs, written out as W or U~.
    BlockForwardSubstitution<D>(as, buf);
    float* x_out = half == 0 ? tile : ut_out;
    const int x_stride = half == 0 ? DS : D;
    for (int idx = t; idx < C * G; idx += kThreads) {
      const int r = idx / G, c = (idx % G) * 4;
      Store4(x_out + r * x_stride + c, Load4(buf + r * DS + c));
    }
    // 5. P X, then Q' = diag(gamma) Q - P W or Y0 = P U~.
    constexpr int RG = LowerProductShape<D>::RG, NG = LowerProductShape<D>::NG;
    const int pair = t / (D / 4), cg = t % (D / 4);
    float4 lo[RG], hi[RG];
    LowerProduct<D>(ps, buf, pair, cg, lo, hi);
    float* z_out = half == 0 ? tile + C * DS : ut_out + C * D;
    const int z_stride = half == 0 ? DS : D;
    const int c = cg * 4;
#pragma unroll
    for (int i = 0; i < 2 * RG; ++i) {
      const int r = i < RG ? RG * pair + i : RG * (NG - 1 - pair) + i - RG;
      float4 z = i < RG ? lo[i] : hi[i - RG];
      if (half == 0) {
        const float gamma = expf(gs[r]);
        const float4 q = Load4(qs + r * DS + c);
        z = make_float4(fmaf(gamma, q.x, -z.x), fmaf(gamma, q.y, -z.y),
                        fmaf(gamma, q.z, -z.z), fmaf(gamma, q.w, -z.w));
      }
      Store4(z_out + r * z_stride + c, z);
    }
    __syncthreads();  // buf is rewritten by the next half
  }
  // 6. Key decays exp(g_last - g_s), then gamma_last and padding.
  float* decays = ws + GdrPrefillTileFloats(D);
  if (t < C) decays[t] = expf(gs[C - 1] - gs[t]);
  if (t < 4) decays[C + t] = t == 0 ? expf(gs[C - 1]) : 0.f;
}

template <int D>
cudaError_t Launch(const GdrPrefillParams& p, cudaStream_t stream) {
  const size_t smem = GdrPrefillChunkSmemBytes(D);
  cudaError_t err = cudaFuncSetAttribute(GdrPrefillChunkKernel<D>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const int chunks = (p.tokens + C - 1) / C;
  const dim3 grid(chunks, p.batch * p.heads);
  GdrPrefillChunkKernel<D><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

size_t GdrPrefillChunkSmemBytes(int dim) {
  return (2 * size_t(C) * (dim + 4) + 2 * size_t(C) * kTri + 2 * C) * sizeof(float);
}

cudaError_t LaunchGdrPrefillChunkKernel(const GdrPrefillParams& p,
                                        cudaStream_t stream) {
  switch (p.dim) {
    case 64: return Launch<64>(p, stream);
    case 128: return Launch<128>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace hecate
