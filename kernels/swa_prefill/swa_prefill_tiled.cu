// Sliding-window attention over a chunk, register-tiled for head widths 64
// and 128 (the base and tiny configs).
//
// Grid: x = tiles of 64 query tokens, y = head, z = session; 256 threads as
// a 16 x 16 grid. Thread (ty, tx) owns queries 4ty..4ty+3 and, per 64-key
// tile, keys 4tx..4tx+3 for the scores and output columns 4tx + 64v (v <
// d/64) for the values, so each step of the inner products reads two (or
// three) float4 from shared memory for 16 (or 32) FMAs. Q and K are stored
// transposed ([d][64]) so that four queries or four keys of one column are
// one float4. A row's running max and sum are shared by the 16 lanes of a
// half-warp (shuffles); probabilities pass through shared memory (P^T).
// Semantics are those of swa_prefill_kernel.cu's kernel (positions >= P from
// the chunk, older ones from the ring as it was before the chunk).
#include <cstdint>

#include "kernels/swa_prefill/swa_chunk_window.cuh"
#include "kernels/swa_prefill/swa_prefill_kernel.h"

namespace hecate {
namespace {

constexpr int kTile = 64;  // queries per block, keys per step
constexpr int kThreads = 256;
constexpr int kPStride = kTile + 4;  // P^T row stride (floats), keeps float4 alignment

__device__ __forceinline__ float HalfWarpMax(float x) {
  for (int o = 8; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xFFFFFFFFu, x, o));
  return x;
}
__device__ __forceinline__ float HalfWarpSum(float x) {
  for (int o = 8; o > 0; o >>= 1) x += __shfl_xor_sync(0xFFFFFFFFu, x, o);
  return x;
}
__device__ __forceinline__ float4 Load4(const float* p) {
  return *reinterpret_cast<const float4*>(p);
}

template <int kD>
constexpr size_t TiledSmemFloats() {
  return size_t(kD) * kTile * 3 + size_t(kTile) * kPStride;
}

template <int kD>
__global__ void __launch_bounds__(kThreads)
    SwaPrefillTiledKernel(const __grid_constant__ SwaPrefillParams p) {
  constexpr int kVecs = kD / 64;
  extern __shared__ float4 smem4[];
  float* qt = reinterpret_cast<float*>(smem4);  // [kD][kTile]
  float* kt = qt + kD * kTile;                  // [kD][kTile]
  float* vs = kt + kD * kTile;                  // [kTile][kD]
  float* pt = vs + kTile * kD;                  // [kTile keys][kPStride]
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int b = blockIdx.z, h = blockIdx.y, t0 = blockIdx.x * kTile;
  const int W = p.window, T = p.tokens;
  const int nq = min(kTile, T - t0);
  const size_t row0 = size_t(b) * T;

  for (int idx = tid; idx < kTile * (kD / 4); idx += kThreads) {
    const int q = idx % kTile, c = (idx / kTile) * 4;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (q < nq) v = Load4(p.q + (row0 + t0 + q) * p.qkv_stride + h * kD + c);
    qt[(c + 0) * kTile + q] = v.x;
    qt[(c + 1) * kTile + q] = v.y;
    qt[(c + 2) * kTile + q] = v.z;
    qt[(c + 3) * kTile + q] = v.w;
  }
  const ChunkWindow<kD> window(p, b, h, t0, nq);
  const uint64_t first_q = window.first_q, hi = window.hi, lo = window.lo;

  float run_max[4], run_sum[4], o[4][4 * kVecs];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    run_max[i] = -INFINITY;
    run_sum[i] = 0.f;
#pragma unroll
    for (int c = 0; c < 4 * kVecs; ++c) o[i][c] = 0.f;
  }

  for (uint64_t kbase = lo; kbase <= hi; kbase += kTile) {
    __syncthreads();  // previous tile consumed (and qt written)
    for (int idx = tid; idx < kTile * (kD / 4); idx += kThreads) {
      const int key = idx % kTile, c = (idx / kTile) * 4;  // transposed K
      const uint64_t j = kbase + key;
      const float4 v = j <= hi ? Load4(window.Key(j) + c)
                               : make_float4(0.f, 0.f, 0.f, 0.f);
      kt[(c + 0) * kTile + key] = v.x;
      kt[(c + 1) * kTile + key] = v.y;
      kt[(c + 2) * kTile + key] = v.z;
      kt[(c + 3) * kTile + key] = v.w;
    }
    for (int idx = tid; idx < kTile * (kD / 4); idx += kThreads) {
      const int key = idx / (kD / 4), c = (idx % (kD / 4)) * 4;  // natural V
      const uint64_t j = kbase + key;
      const float4 v = j <= hi ? Load4(window.Value(j) + c)
                               : make_float4(0.f, 0.f, 0.f, 0.f);
      *reinterpret_cast<float4*>(vs + key * kD + c) = v;
    }
    __syncthreads();

    float s[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int j = 0; j < 4; ++j) s[i][j] = 0.f;
    }
#pragma unroll 8
    for (int c = 0; c < kD; ++c) {
      const float4 qv = Load4(qt + c * kTile + ty * 4);
      const float4 kv = Load4(kt + c * kTile + tx * 4);
      const float qa[4] = {qv.x, qv.y, qv.z, qv.w};
      const float ka[4] = {kv.x, kv.y, kv.z, kv.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) s[i][j] = fmaf(qa[i], ka[j], s[i][j]);
      }
    }

    float pr[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint64_t qpos = first_q + ty * 4 + i;
      const bool q_ok = ty * 4 + i < nq;
      float tile_max = -INFINITY;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint64_t kpos = kbase + tx * 4 + j;
        const bool ok = q_ok && kpos <= hi && kpos <= qpos && kpos + uint64_t(W) > qpos;
        s[i][j] = ok ? s[i][j] * p.scale : -INFINITY;
        tile_max = fmaxf(tile_max, s[i][j]);
      }
      tile_max = HalfWarpMax(tile_max);
      const float new_max = fmaxf(run_max[i], tile_max);
      const float correction = run_max[i] == -INFINITY ? 0.f : expf(run_max[i] - new_max);
      float tile_sum = 0.f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        pr[i][j] = s[i][j] == -INFINITY ? 0.f : expf(s[i][j] - new_max);
        tile_sum += pr[i][j];
      }
      tile_sum = HalfWarpSum(tile_sum);
      run_sum[i] = run_sum[i] * correction + tile_sum;
      run_max[i] = new_max;
#pragma unroll
      for (int c = 0; c < 4 * kVecs; ++c) o[i][c] *= correction;
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      *reinterpret_cast<float4*>(pt + (tx * 4 + j) * kPStride + ty * 4) =
          make_float4(pr[0][j], pr[1][j], pr[2][j], pr[3][j]);
    }
    __syncthreads();

#pragma unroll 4
    for (int kk = 0; kk < kTile; ++kk) {
      const float4 pv = Load4(pt + kk * kPStride + ty * 4);
      const float pa[4] = {pv.x, pv.y, pv.z, pv.w};
#pragma unroll
      for (int v = 0; v < kVecs; ++v) {
        const float4 vv = Load4(vs + kk * kD + v * 64 + tx * 4);
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          o[i][v * 4 + 0] = fmaf(pa[i], vv.x, o[i][v * 4 + 0]);
          o[i][v * 4 + 1] = fmaf(pa[i], vv.y, o[i][v * 4 + 1]);
          o[i][v * 4 + 2] = fmaf(pa[i], vv.z, o[i][v * 4 + 2]);
          o[i][v * 4 + 3] = fmaf(pa[i], vv.w, o[i][v * 4 + 3]);
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int q = ty * 4 + i;
    if (q >= nq) continue;
    const float inv = 1.0f / run_sum[i];
    float* out = p.out + (row0 + t0 + q) * p.out_stride + h * kD;
#pragma unroll
    for (int v = 0; v < kVecs; ++v) {
      *reinterpret_cast<float4*>(out + v * 64 + tx * 4) =
          make_float4(o[i][v * 4 + 0] * inv, o[i][v * 4 + 1] * inv, o[i][v * 4 + 2] * inv,
                      o[i][v * 4 + 3] * inv);
    }
  }
}

template <int kD>
cudaError_t LaunchTiled(const SwaPrefillParams& p, cudaStream_t stream) {
  const size_t smem = TiledSmemFloats<kD>() * sizeof(float);
  const cudaError_t err = cudaFuncSetAttribute(
      SwaPrefillTiledKernel<kD>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (err != cudaSuccess) return err;
  const dim3 grid((p.tokens + kTile - 1) / kTile, p.heads, p.batch);
  SwaPrefillTiledKernel<kD><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

bool SwaPrefillTiledSupports(const SwaPrefillParams& p) {
  return (p.dim == 64 || p.dim == 128) && p.qkv_stride % 4 == 0 && p.out_stride % 4 == 0 &&
         p.k_offset % 4 == 0 && p.v_offset % 4 == 0 &&
         reinterpret_cast<uintptr_t>(p.q) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(p.k) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(p.v) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(p.out) % 16 == 0;
}

cudaError_t LaunchSwaPrefillTiled(const SwaPrefillParams& p, cudaStream_t stream) {
  return p.dim == 64 ? LaunchTiled<64>(p, stream) : LaunchTiled<128>(p, stream);
}

}  // namespace hecate
