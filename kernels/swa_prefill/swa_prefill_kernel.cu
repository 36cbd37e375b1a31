// Sliding-window attention over a chunk: tiled, online softmax, window mask,
// keys from the chunk or from the ring as it was before the chunk.
//
// Grid: x = tiles of 32 query tokens, y = head, z = session; 128 threads.
// Four lanes share one query row: for scores each takes every 4th key of a
// 32-key tile, for the output every 4th column, so the row's running max,
// sum and rescale factor live in those four lanes (two shuffles) and the
// probabilities pass through shared memory within the warp only.
// A second launch writes the chunk's last min(T, W) keys and values into the
// ring once every query has read the old ring.
#include <cstdint>

#include "kernels/swa_prefill/swa_prefill_kernel.h"

namespace hecate {
namespace {

constexpr int kTileQ = 32;
constexpr int kTileK = 32;
constexpr int kThreads = 128;
constexpr int kKeysPerLane = kTileK / 4;

size_t SmemFloats(int dim) {
  return size_t(kTileQ) * (dim + 1) + size_t(kTileK) * (dim + 1) + size_t(kTileK) * dim +
         size_t(kTileQ) * (kTileK + 1);
}

// kCols output columns per lane: dim <= 4 * kCols.
template <int kCols>
__global__ void __launch_bounds__(kThreads)
    SwaPrefillAttentionKernel(const __grid_constant__ SwaPrefillParams p) {
  extern __shared__ float smem[];
  const int d = p.dim, ld = d + 1, W = p.window, T = p.tokens;
  float* qs = smem;                 // [kTileQ][d + 1]
  float* ks = qs + kTileQ * ld;     // [kTileK][d + 1]
  float* vs = ks + kTileK * ld;     // [kTileK][d]
  float* ps = vs + kTileK * d;      // [kTileQ][kTileK + 1]
  const int b = blockIdx.z, h = blockIdx.y, t0 = blockIdx.x * kTileQ;
  const int tid = threadIdx.x, qi = tid >> 2, sub = tid & 3;
  const uint64_t P = p.pulse[b];
  const int nq = min(kTileQ, T - t0);
  const size_t row0 = size_t(b) * T;

  for (int idx = tid; idx < kTileQ * d; idx += kThreads) {
    const int r = idx / d, c = idx % d;
    qs[r * ld + c] = r < nq ? p.q[(row0 + t0 + r) * p.qkv_stride + h * d + c] : 0.0f;
  }
  const uint64_t first_q = P + t0;
  const uint64_t hi = first_q + nq - 1;  // newest key any row needs
  const uint64_t lo = first_q >= uint64_t(W - 1) ? first_q - (W - 1) : 0;  // oldest
  const uint64_t qpos = first_q + qi;
  const bool q_ok = qi < nq;
  const float* ring_k = p.states[b] + p.k_offset + size_t(h) * W * d;
  const float* ring_v = p.states[b] + p.v_offset + size_t(h) * W * d;

  float run_max = -INFINITY, run_sum = 0.0f;
  float o[kCols];
#pragma unroll
  for (int e = 0; e < kCols; ++e) o[e] = 0.0f;

  for (uint64_t kbase = lo; kbase <= hi; kbase += kTileK) {
    __syncthreads();  // the previous tile is consumed (and qs is loaded)
    for (int idx = tid; idx < kTileK * d; idx += kThreads) {
      const int kk = idx / d, c = idx % d;
      const uint64_t j = kbase + kk;
      float kv = 0.0f, vv = 0.0f;
      if (j <= hi) {
        if (j >= P) {
          const size_t at = (row0 + (j - P)) * p.qkv_stride + h * d + c;
          kv = p.k[at];
          vv = p.v[at];
        } else {
          const size_t at = size_t(j % uint64_t(W)) * d + c;
          kv = ring_k[at];
          vv = ring_v[at];
        }
      }
      ks[kk * ld + c] = kv;
      vs[kk * d + c] = vv;
    }
    __syncthreads();

    float s[kKeysPerLane];
#pragma unroll
    for (int m = 0; m < kKeysPerLane; ++m) s[m] = 0.0f;
    for (int c = 0; c < d; ++c) {
      const float qv = qs[qi * ld + c];
#pragma unroll
      for (int m = 0; m < kKeysPerLane; ++m) s[m] = fmaf(qv, ks[(sub + 4 * m) * ld + c], s[m]);
    }
    float tile_max = -INFINITY;
#pragma unroll
    for (int m = 0; m < kKeysPerLane; ++m) {
      const uint64_t j = kbase + sub + 4 * m;
      const bool ok = q_ok && j <= qpos && j + uint64_t(W) > qpos;
      s[m] = ok ? s[m] * p.scale : -INFINITY;
      tile_max = fmaxf(tile_max, s[m]);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xFFFFFFFFu, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xFFFFFFFFu, tile_max, 2));
    const float new_max = fmaxf(run_max, tile_max);
    const float correction = run_max == -INFINITY ? 0.0f : expf(run_max - new_max);
    float tile_sum = 0.0f;
#pragma unroll
    for (int m = 0; m < kKeysPerLane; ++m) {
      const float pr = s[m] == -INFINITY ? 0.0f : expf(s[m] - new_max);
      tile_sum += pr;
      ps[qi * (kTileK + 1) + sub + 4 * m] = pr;
    }
    tile_sum += __shfl_xor_sync(0xFFFFFFFFu, tile_sum, 1);
    tile_sum += __shfl_xor_sync(0xFFFFFFFFu, tile_sum, 2);
    run_sum = run_sum * correction + tile_sum;
    run_max = new_max;
    __syncwarp();  // a row's probabilities are written and read by its 4 lanes
#pragma unroll
    for (int e = 0; e < kCols; ++e) o[e] *= correction;
    for (int kk = 0; kk < kTileK; ++kk) {
      const float pr = ps[qi * (kTileK + 1) + kk];
#pragma unroll
      for (int e = 0; e < kCols; ++e) {
        const int c = sub + 4 * e;
        if (c < d) o[e] = fmaf(pr, vs[kk * d + c], o[e]);
      }
    }
    __syncwarp();
  }

  if (!q_ok) return;
  const float inv = 1.0f / run_sum;
  float* out = p.out + (row0 + t0 + qi) * p.out_stride + h * d;
#pragma unroll
  for (int e = 0; e < kCols; ++e) {
    const int c = sub + 4 * e;
    if (c < d) out[c] = o[e] * inv;
  }
}

// One block per chunk row among the last min(T, W): distinct positions, so
// distinct slots.
__global__ void SwaPrefillRingWriteKernel(const __grid_constant__ SwaPrefillParams p) {
  const int kept = min(p.tokens, p.window);
  const int b = blockIdx.y, t = p.tokens - kept + blockIdx.x;
  const size_t r = size_t(b) * p.tokens + t;
  const uint64_t slot = (p.pulse[b] + t) % uint64_t(p.window);
  float* ring_k = p.states[b] + p.k_offset;
  float* ring_v = p.states[b] + p.v_offset;
  const int width = p.heads * p.dim;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    const int h = i / p.dim, c = i % p.dim;
    const size_t at = (size_t(h) * p.window + slot) * p.dim + c;
    ring_k[at] = p.k[r * p.qkv_stride + i];
    ring_v[at] = p.v[r * p.qkv_stride + i];
  }
}

template <int kCols>
cudaError_t LaunchAttention(const SwaPrefillParams& p, cudaStream_t stream) {
  const size_t smem = SmemFloats(p.dim) * sizeof(float);
  cudaError_t err = cudaFuncSetAttribute(SwaPrefillAttentionKernel<kCols>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (err != cudaSuccess) return err;
  const dim3 grid((p.tokens + kTileQ - 1) / kTileQ, p.heads, p.batch);
  SwaPrefillAttentionKernel<kCols><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchSwaPrefillAttention(const SwaPrefillParams& p, cudaStream_t stream) {
  if (SwaPrefillTiledSupports(p)) {
    return p.kernel == SwaPrefillKernel::kFfmaTiles ? LaunchSwaPrefillTiled(p, stream)
                                                     : LaunchSwaPrefillMma(p, stream);
  }
  if (p.dim <= 32) return LaunchAttention<8>(p, stream);
  if (p.dim <= 64) return LaunchAttention<16>(p, stream);
  return LaunchAttention<32>(p, stream);
}

cudaError_t LaunchSwaPrefillRingWrite(const SwaPrefillParams& p, cudaStream_t stream) {
  const dim3 grid(p.tokens < p.window ? p.tokens : p.window, p.batch);
  SwaPrefillRingWriteKernel<<<grid, 256, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace hecate
