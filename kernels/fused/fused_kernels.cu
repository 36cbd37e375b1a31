// Elementwise and per-row reduction stages of the HecateLM forward pass.
//
// Each kernel mirrors backends/cpu/ops.{h,cc} operation for operation
// (fp64 sums in the norms, float exp in silu/sigmoid, fp64 RoPE angles from
// a host-computed inverse-frequency table) so that the CUDA backend differs
// from the CPU reference by float rounding only.
#include <cstdint>

#include "kernels/fused/fused_kernels.h"

namespace hecate {
namespace {

constexpr int kThreads = 256;
constexpr float kNormEps = 1e-6f;

__device__ __forceinline__ float Sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float Silu(float x) { return x / (1.0f + expf(-x)); }

__device__ __forceinline__ double WarpSum(double x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xFFFFFFFFu, x, o);
  return x;
}

// Sum over the block (kThreads threads); every thread gets the result.
__device__ double BlockSum(double x) {
  __shared__ double partial[kThreads / 32];
  __shared__ double total;
  x = WarpSum(x);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = x;
  __syncthreads();
  if (threadIdx.x < 32) {
    double y = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.0;
    y = WarpSum(y);
    if (threadIdx.x == 0) total = y;
  }
  __syncthreads();
  return total;
}

__global__ void EmbedGatherKernel(EmbedGatherParams p) {
  const int r = blockIdx.x;
  const float* src = p.embed + size_t(p.tokens[r]) * p.width;
  float* dst = p.out + size_t(r) * p.width;
  for (int i = threadIdx.x; i < p.width; i += blockDim.x) dst[i] = src[i];
}

__global__ void RmsNormKernel(RmsNormParams p) {
  const int r = blockIdx.x;
  const float* x = p.in + size_t(r) * p.in_stride;
  float* out = p.out + size_t(r) * p.width;
  double sum = 0.0;
  for (int i = threadIdx.x; i < p.width; i += kThreads) sum += double(x[i]) * x[i];
  sum = BlockSum(sum);
  const float scale = float(1.0 / sqrt(sum / p.width + double(kNormEps)));
  for (int i = threadIdx.x; i < p.width; i += kThreads) out[i] = x[i] * scale * p.gain[i];
}

// Two blocks per row (blockIdx.y): one rotates the attention q/k pairs and
// copies v; the other activates and normalises the memory q, k, v (one warp
// per head) and the gates.
__global__ void MixerPrepKernel(MixerPrepParams p) {
  const int r = blockIdx.x;
  const bool attention_part = blockIdx.y == 0;
  const int b = r / p.tokens, t = r % p.tokens;
  const int d = p.dim, half = d / 2, width = p.heads * d;
  const uint64_t pos = p.pulse[b] + uint64_t(t);
  const float* in = p.proj + size_t(r) * p.proj_stride;
  float* qa = p.act + size_t(r) * width;
  float* ka = qa + p.plane;
  float* va = ka + p.plane;
  float* mq = va + p.plane;
  float* mk = mq + p.plane;
  float* mv = mk + p.plane;

  if (attention_part) {
    // RoPE (rotate-half) of attention q and k: pair (i, i + d/2) of each head.
    for (int idx = threadIdx.x; idx < p.heads * half; idx += kThreads) {
      const int h = idx / half, i = idx % half;
      const double angle = double(pos) * p.inv_freq[i];
      double s, c;
      sincos(angle, &s, &c);
      const float cf = float(c), sf = float(s);
      const int lo = h * d + i, hi = lo + half;
      const float q1 = in[lo], q2 = in[hi];
      qa[lo] = q1 * cf - q2 * sf;
      qa[hi] = q2 * cf + q1 * sf;
      const float k1 = in[width + lo], k2 = in[width + hi];
      ka[lo] = k1 * cf - k2 * sf;
      ka[hi] = k2 * cf + k1 * sf;
    }
    for (int i = threadIdx.x; i < width; i += kThreads) va[i] = in[2 * width + i];
    return;
  }

  // Memory q, k, v: one warp per head; each lane revisits only the elements
  // it wrote, so no barrier is needed between activation and scaling.
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  for (int h = warp; h < p.heads; h += kThreads / 32) {
    const float* qm = in + 3 * width + h * d;
    const float* km = in + 4 * width + h * d;
    const float* vm = in + 5 * width + h * d;
    double sq = 0.0, sk = 0.0;
    for (int i = lane; i < d; i += 32) {
      const float q = Silu(qm[i]), k = Silu(km[i]);
      mq[h * d + i] = q;
      mk[h * d + i] = k;
      mv[h * d + i] = Silu(vm[i]);
      sq += double(q) * q;
      sk += double(k) * k;
    }
    sq = WarpSum(sq);
    sk = WarpSum(sk);
    const float scale_q = float(1.0 / sqrt(sq + double(kNormEps)));
    const float scale_k = float(1.0 / sqrt(sk + double(kNormEps)));
    for (int i = lane; i < d; i += 32) {
      mq[h * d + i] *= scale_q;
      mk[h * d + i] *= scale_k;
    }
  }

  // Gates: [alpha | theta | eta], each levels-major then head.
  const int n_gates = 3 * p.levels * p.heads;
  const float* z = in + 6 * width;
  float* gates = p.gates + size_t(r) * n_gates;
  for (int idx = threadIdx.x; idx < n_gates; idx += kThreads) {
    const float g = Sigmoid(z[idx] + p.gate_bias[idx]);
    gates[idx] = g;
    const int kind = idx / (p.levels * p.heads);
    const int level = (idx / p.heads) % p.levels, h = idx % p.heads;
    if (level == p.delta_level && kind < 2) {
      (kind == 0 ? p.alpha1 : p.theta1)[size_t(r) * p.heads + h] = g;
    }
  }
}

__global__ void MagGateKernel(MagGateParams p) {
  const size_t n = size_t(p.rows) * p.width;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    // Summed level by level as the CPU reference accumulates it.
    float m = 0.0f;
    for (int j = 0; j < p.levels; ++j) m += p.scale * p.y[j * p.plane + i];
    p.attn[i] *= Sigmoid(m);
  }
}

__global__ void SwiGluKernel(SwiGluParams p) {
  const size_t n = size_t(p.rows) * p.ff;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    const size_t r = i / p.ff, f = i % p.ff;
    float* row = p.h + r * 2 * p.ff;
    row[f] = Silu(row[f]) * row[p.ff + f];
  }
}

int ElementwiseBlocks(size_t n) {
  const size_t blocks = (n + kThreads - 1) / kThreads;
  return int(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

}  // namespace

cudaError_t LaunchEmbedGather(const EmbedGatherParams& p, cudaStream_t stream) {
  EmbedGatherKernel<<<p.rows, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  RmsNormKernel<<<p.rows, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchMixerPrep(const MixerPrepParams& p, cudaStream_t stream) {
  MixerPrepKernel<<<dim3(p.batch * p.tokens, 2), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchMagGate(const MagGateParams& p, cudaStream_t stream) {
  MagGateKernel<<<ElementwiseBlocks(size_t(p.rows) * p.width), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchSwiGlu(const SwiGluParams& p, cudaStream_t stream) {
  SwiGluKernel<<<ElementwiseBlocks(size_t(p.rows) * p.ff), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace hecate
