// Level-1 gated delta rule, one token, state read once and written once.
//
// Every row i of M evolves on its own: with m = M_old[i, :],
//   e_i       = alpha * (m . k) - v_i        ((alpha M_old) k = alpha (M_old k))
//   M_new[i,:] = alpha * m - theta * e_i * k
//   y_i       = M_new[i, :] . q
// so one pass per row suffices. A group of 8 consecutive lanes owns one row;
// lane `sub` holds the float4s at columns (j * 8 + sub) * 4, j < VEC, so each
// of the group's loads covers 128 contiguous bytes and the reductions take
// three shuffles. The state is streamed (evict-first loads and stores): it is
// touched exactly once per step, while k and q are re-read by all d rows of a
// head and stay in L1/L2.
#include "kernels/gdr_decode/gdr_decode_kernel.h"

#include <cstdint>

#include "kernels/lane_vector_dispatch.cuh"

namespace hecate {
namespace {

constexpr int kLanesPerRow = 8;
constexpr int kThreads = 128;  // 16 rows per block: enough blocks at B = 1

__device__ __forceinline__ float Dot4(float4 a, float4 b, float acc) {
  acc = fmaf(a.x, b.x, acc);
  acc = fmaf(a.y, b.y, acc);
  acc = fmaf(a.z, b.z, acc);
  return fmaf(a.w, b.w, acc);
}

__device__ __forceinline__ float GroupSum(float x, unsigned mask) {
  x += __shfl_xor_sync(mask, x, 4);
  x += __shfl_xor_sync(mask, x, 2);
  x += __shfl_xor_sync(mask, x, 1);
  return x;
}

template <int VEC>
__global__ void __launch_bounds__(kThreads)
    GdrDecodeKernel(GdrDecodeParams p) {
  const int64_t row = (int64_t(blockIdx.x) * kThreads + threadIdx.x) / kLanesPerRow;
  const int sub = threadIdx.x % kLanesPerRow;
  const int64_t total_rows = int64_t(p.batch) * p.heads * p.dim;
  if (row >= total_rows) return;  // whole groups leave together
  const unsigned lane = threadIdx.x % 32;
  const unsigned mask = 0xFFu << (lane & ~7u);

  const int i = static_cast<int>(row % p.dim);
  const int64_t bh = row / p.dim;  // b * heads + h
  const int b = static_cast<int>(bh / p.heads);
  const int h = static_cast<int>(bh % p.heads);

  float* m_row = p.states[b] + p.state_offset +
                 (int64_t(h) * p.dim + i) * p.dim;
  const float* k = p.k + bh * p.dim;
  const float* q = p.q + bh * p.dim;

  // Issue every load before the first use.
  float4 m[VEC], kk[VEC], qq[VEC];
#pragma unroll
  for (int j = 0; j < VEC; ++j) {
    const int c = (j * kLanesPerRow + sub) * 4;
    if (c < p.dim) {
      m[j] = __ldcs(reinterpret_cast<const float4*>(m_row + c));
      kk[j] = __ldg(reinterpret_cast<const float4*>(k + c));
      qq[j] = __ldg(reinterpret_cast<const float4*>(q + c));
    } else {
      m[j] = kk[j] = qq[j] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
  }
  const float alpha = __ldg(p.alpha + bh);
  const float theta = __ldg(p.theta + bh);
  const float v_i = __ldg(p.v + bh * p.dim + i);

  float mk = 0.f;
#pragma unroll
  for (int j = 0; j < VEC; ++j) mk = Dot4(m[j], kk[j], mk);
  mk = GroupSum(mk, mask);
  const float step = theta * fmaf(alpha, mk, -v_i);  // theta * e_i

  float y = 0.f;
#pragma unroll
  for (int j = 0; j < VEC; ++j) {
    float4 n;
    n.x = fmaf(alpha, m[j].x, -step * kk[j].x);
    n.y = fmaf(alpha, m[j].y, -step * kk[j].y);
    n.z = fmaf(alpha, m[j].z, -step * kk[j].z);
    n.w = fmaf(alpha, m[j].w, -step * kk[j].w);
    y = Dot4(n, qq[j], y);
    const int c = (j * kLanesPerRow + sub) * 4;
    if (c < p.dim) __stcs(reinterpret_cast<float4*>(m_row + c), n);
  }
  y = GroupSum(y, mask);
  if (sub == 0) p.y[bh * p.dim + i] = y;
}

template <int VEC>
cudaError_t Launch(const GdrDecodeParams& p, cudaStream_t stream) {
  const int64_t rows = int64_t(p.batch) * p.heads * p.dim;
  const int64_t rows_per_block = kThreads / kLanesPerRow;
  const int64_t blocks = (rows + rows_per_block - 1) / rows_per_block;
  if (blocks > INT32_MAX) return cudaErrorInvalidConfiguration;
  GdrDecodeKernel<VEC><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchGdrDecodeKernel(const GdrDecodeParams& p,
                                  cudaStream_t stream) {
  return DispatchLaneVector<8>(p.dim, [&](auto vec) {
    return Launch<decltype(vec)::value>(p, stream);
  });
}

}  // namespace hecate
