// Phase 2 of the chunked gated delta rule: the chunks of a (session, head)
// in order, carrying the state. See gdr_prefill_chunk.cu for the algebra;
// per chunk this applies
//   U = U~ - W M0^T,   Y = Y0 + Q' M0^T,   M = gamma_last M0 + U'^T K
// with U' = diag(exp(g_last - g)) U.
//
// Rows of M (value dimensions) never mix, so a block owns R = 8 or 16 rows
// of one head's M in shared memory and only reads the slices of U~ and Y0
// it needs; the grid is (d / R, batch * heads), which fills the machine at
// batch 1. The next chunk's [W; Q'] and slices are fetched with cp.async
// while the current one is computed (double buffer); the keys come in a
// second group that is only waited for before the state update. The head
// width is a template parameter so that every index is shifts and adds
// (run-time divisions once doubled the instruction count), and U' is kept
// transposed so the state update reads it as float4s.
#include <cstdint>

#include "kernels/gdr_prefill/cp_async.cuh"
#include "kernels/gdr_prefill/gdr_prefill_kernel.h"

namespace hecate {
namespace {

constexpr int C = kGdrChunk;
constexpr int kThreads = 256;

// Shared-memory carve-up. Double buffers are one base pointer plus a
// per-buffer stride (not arrays of pointers: indexing those with a run-time
// buffer number would put them in local memory).
struct ScanSmem {
  float* xs;  // [2][2C][ds]: W rows then Q' rows
  float* ks;  // [C][ds]
  float* ut;  // [2][C][R + 4] slice of U~
  float* yt;  // [2][C][R + 4] slice of Y0
  float* kd;  // [2][C + 4]: key decays, gamma_last
  float* ms;  // [R][ds] the state rows
  float* us;  // [R][C + 4] U' slice, transposed
};

// Slice rows are R + 4 floats: 4 x odd words, so float4 accesses by
// consecutive rows hit distinct banks.
__device__ __host__ inline size_t ScanSmemFloats(int d, int rows) {
  const size_t ds = d + 4, rs = rows + 4;
  return 2 * (2 * C * ds) + C * ds + 2 * 2 * size_t(C) * rs + 2 * (C + 4) +
         rows * ds + size_t(rows) * (C + 4);
}

// D: head width. RPT: value rows per thread in the product phase; R = 2 RPT.
template <int D, int RPT>
__global__ void __launch_bounds__(kThreads, 1)
    GdrPrefillScanKernel(GdrPrefillParams p) {
  constexpr int R = 2 * RPT;
  constexpr int RS = R + 4;   // slice row stride
  constexpr int US = C + 4;   // transposed U' row stride
  constexpr int d = D;
  constexpr int ds = D + 4;
  constexpr int d4 = D / 4;
  extern __shared__ float4 smem4[];
  ScanSmem sm;
  {
    float* at = reinterpret_cast<float*>(smem4);
    sm.xs = at;
    at += 2 * (2 * C * ds);
    sm.ks = at;
    at += C * ds;
    sm.ut = at;
    at += 2 * C * RS;
    sm.yt = at;
    at += 2 * C * RS;
    sm.kd = at;
    at += 2 * (C + 4);
    sm.ms = at;
    at += R * ds;
    sm.us = at;
  }

  const int t = threadIdx.x;
  const int i0 = blockIdx.x * R;
  const int bh = blockIdx.y;
  const int b = bh / p.heads;
  const int h = bh % p.heads;
  const int chunks = (p.tokens + C - 1) / C;
  const size_t chunk_floats = GdrPrefillChunkFloats(d);
  const float* ws = p.workspace + size_t(bh) * chunks * chunk_floats;
  float* m_global = p.states[b] + p.state_offset + (size_t(h) * d + i0) * d;

  for (int idx = t; idx < R * d4; idx += kThreads) {
    const int i = idx / d4, c = (idx % d4) * 4;
    *reinterpret_cast<float4*>(sm.ms + i * ds + c) =
        *reinterpret_cast<const float4*>(m_global + size_t(i) * d + c);
  }

  constexpr int xs_size = 2 * C * ds, slice_size = C * RS, kd_size = C + 4;
  auto issue_chunk = [&](int chunk, int buf) {
    const float* w = ws + size_t(chunk) * chunk_floats;
    float* xs = sm.xs + buf * xs_size;
    float* ut = sm.ut + buf * slice_size;
    float* yt = sm.yt + buf * slice_size;
    float* kd = sm.kd + buf * kd_size;
    for (int idx = t; idx < 2 * C * d4; idx += kThreads) {
      const int r = idx / d4, c = (idx % d4) * 4;
      CpAsync16(xs + r * ds + c, w + size_t(r) * d + c, 16);
    }
    for (int idx = t; idx < 2 * C * (R / 4); idx += kThreads) {
      const int which = idx / (C * (R / 4));  // 0: U~, 1: Y0
      const int rem = idx % (C * (R / 4));
      const int r = rem / (R / 4), c = (rem % (R / 4)) * 4;
      const float* src = w + (2 + which) * size_t(C) * d + size_t(r) * d + i0 + c;
      CpAsync16((which ? yt : ut) + r * RS + c, src, 16);
    }
    if (t < kd_size / 4) CpAsync16(kd + 4 * t, w + 4 * size_t(C) * d + 4 * t, 16);
  };
  auto issue_keys = [&](int chunk) {
    const int t0 = chunk * C;
    const int len = min(C, p.tokens - t0);
    for (int idx = t; idx < C * d4; idx += kThreads) {
      const int r = idx / d4, c = (idx % d4) * 4;
      const float* src =
          r < len ? p.k + (size_t(b) * p.tokens + t0 + r) * p.qkv_stride +
                        size_t(h) * d + c
                  : p.k;
      CpAsync16(sm.ks + r * ds + c, src, r < len ? 16 : 0);
    }
  };

  issue_chunk(0, 0);
  CpAsyncCommit();
  const int row = t % (2 * C);  // product phase: row of [W; Q']
  const int half = t / (2 * C);  // which RPT value rows
  for (int chunk = 0; chunk < chunks; ++chunk) {
    const int buf = chunk & 1;
    const float* xs = sm.xs + buf * xs_size;
    const float* ut = sm.ut + buf * slice_size;
    const float* yt = sm.yt + buf * slice_size;
    const float* kd = sm.kd + buf * kd_size;
    const int t0 = chunk * C;
    const int len = min(C, p.tokens - t0);
    issue_keys(chunk);
    CpAsyncCommit();
    if (chunk + 1 < chunks) issue_chunk(chunk + 1, buf ^ 1);
    CpAsyncCommit();
    CpAsyncWait<2>();  // this chunk's [W; Q'], slices and decays
    __syncthreads();

    // Z = [W; Q'] M0^T for rows `row`, value rows half*RPT .. +RPT. Fully
    // unrolled with one partial sum per component: 4 * RPT independent
    // chains, so shared-memory loads can run ahead of the arithmetic.
    float acc[RPT];
    {
      float4 part[RPT];
#pragma unroll
      for (int ii = 0; ii < RPT; ++ii) part[ii] = make_float4(0.f, 0.f, 0.f, 0.f);
      const float* xr = xs + row * ds;
      const float* mr = sm.ms + half * RPT * ds;
#pragma unroll
      for (int c = 0; c < d; c += 4) {
        const float4 xv = *reinterpret_cast<const float4*>(xr + c);
#pragma unroll
        for (int ii = 0; ii < RPT; ++ii) {
          const float4 mv = *reinterpret_cast<const float4*>(mr + ii * ds + c);
          part[ii].x = fmaf(xv.x, mv.x, part[ii].x);
          part[ii].y = fmaf(xv.y, mv.y, part[ii].y);
          part[ii].z = fmaf(xv.z, mv.z, part[ii].z);
          part[ii].w = fmaf(xv.w, mv.w, part[ii].w);
        }
      }
#pragma unroll
      for (int ii = 0; ii < RPT; ++ii) {
        acc[ii] = (part[ii].x + part[ii].y) + (part[ii].z + part[ii].w);
      }
    }
    if (row < C) {  // U' = (U~ - W M0^T) * key decay, stored transposed
      const float decay = kd[row];
#pragma unroll
      for (int ii = 0; ii < RPT; ii += 4) {
        const float4 u = *reinterpret_cast<const float4*>(ut + row * RS + half * RPT + ii);
        const int i = half * RPT + ii;
        sm.us[(i + 0) * US + row] = (u.x - acc[ii + 0]) * decay;
        sm.us[(i + 1) * US + row] = (u.y - acc[ii + 1]) * decay;
        sm.us[(i + 2) * US + row] = (u.z - acc[ii + 2]) * decay;
        sm.us[(i + 3) * US + row] = (u.w - acc[ii + 3]) * decay;
      }
    } else if (row - C < len) {  // Y = Y0 + Q' M0^T
      const int r = row - C;
      float* y = p.y + ((size_t(b) * p.tokens + t0 + r) * p.heads + h) * d + i0 +
                 half * RPT;
#pragma unroll
      for (int ii = 0; ii < RPT; ii += 4) {
        const float4 y0 = *reinterpret_cast<const float4*>(yt + r * RS + half * RPT + ii);
        *reinterpret_cast<float4*>(y + ii) =
            make_float4(y0.x + acc[ii], y0.y + acc[ii + 1], y0.z + acc[ii + 2],
                        y0.w + acc[ii + 3]);
      }
    }
    CpAsyncWait<1>();  // this chunk's keys
    __syncthreads();

    // M = gamma_last M0 + U'^T K.
    const float gamma = kd[C];
    for (int idx = t; idx < R * d4; idx += kThreads) {
      const int i = idx / d4, c = (idx % d4) * 4;
      float4 m = *reinterpret_cast<const float4*>(sm.ms + i * ds + c);
      m.x *= gamma;
      m.y *= gamma;
      m.z *= gamma;
      m.w *= gamma;
      float4 m2 = make_float4(0.f, 0.f, 0.f, 0.f);  // second chain: odd s
      const float* u_row = sm.us + i * US;
#pragma unroll
      for (int s = 0; s < C; s += 4) {
        const float4 u = *reinterpret_cast<const float4*>(u_row + s);
        const float4 k0 = *reinterpret_cast<const float4*>(sm.ks + (s + 0) * ds + c);
        const float4 k1 = *reinterpret_cast<const float4*>(sm.ks + (s + 1) * ds + c);
        const float4 k2 = *reinterpret_cast<const float4*>(sm.ks + (s + 2) * ds + c);
        const float4 k3 = *reinterpret_cast<const float4*>(sm.ks + (s + 3) * ds + c);
        m.x = fmaf(u.x, k0.x, m.x);
        m.y = fmaf(u.x, k0.y, m.y);
        m.z = fmaf(u.x, k0.z, m.z);
        m.w = fmaf(u.x, k0.w, m.w);
        m2.x = fmaf(u.y, k1.x, m2.x);
        m2.y = fmaf(u.y, k1.y, m2.y);
        m2.z = fmaf(u.y, k1.z, m2.z);
        m2.w = fmaf(u.y, k1.w, m2.w);
        m.x = fmaf(u.z, k2.x, m.x);
        m.y = fmaf(u.z, k2.y, m.y);
        m.z = fmaf(u.z, k2.z, m.z);
        m.w = fmaf(u.z, k2.w, m.w);
        m2.x = fmaf(u.w, k3.x, m2.x);
        m2.y = fmaf(u.w, k3.y, m2.y);
        m2.z = fmaf(u.w, k3.z, m2.z);
        m2.w = fmaf(u.w, k3.w, m2.w);
      }
      m.x += m2.x;
      m.y += m2.y;
      m.z += m2.z;
      m.w += m2.w;
      *reinterpret_cast<float4*>(sm.ms + i * ds + c) = m;
    }
    __syncthreads();
  }

  for (int idx = t; idx < R * d4; idx += kThreads) {
    const int i = idx / d4, c = (idx % d4) * 4;
    *reinterpret_cast<float4*>(m_global + size_t(i) * d + c) =
        *reinterpret_cast<const float4*>(sm.ms + i * ds + c);
  }
}

template <int D, int RPT>
cudaError_t Launch(const GdrPrefillParams& p, cudaStream_t stream) {
  const size_t smem = ScanSmemFloats(D, 2 * RPT) * sizeof(float);
  cudaError_t err = cudaFuncSetAttribute(
      GdrPrefillScanKernel<D, RPT>, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const dim3 grid(D / (2 * RPT), p.batch * p.heads);
  GdrPrefillScanKernel<D, RPT><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

size_t GdrPrefillScanSmemBytes(int dim, int rows_per_block) {
  return ScanSmemFloats(dim, rows_per_block) * sizeof(float);
}

cudaError_t LaunchGdrPrefillScanKernel(const GdrPrefillParams& p,
                                       cudaStream_t stream) {
  const int key = p.dim * 100 + p.rows_per_block;
  switch (key) {
    case 6408: return Launch<64, 4>(p, stream);
    case 6416: return Launch<64, 8>(p, stream);
    case 12808: return Launch<128, 4>(p, stream);
    case 12816: return Launch<128, 8>(p, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace hecate
