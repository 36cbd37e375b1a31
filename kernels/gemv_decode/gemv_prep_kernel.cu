// The qkv+gates projection of a decode step with MixerPrep as its epilogue
// (gemv_prep_kernel.h).
//
// As the decode GEMV (gemv_decode_kernel.cu), with tiles of 128 columns:
// each cluster of 1-8 blocks computes one tile's K slices
// (gemv_decode_core.cuh); block 0 of the cluster then sums the slices in
// order through distributed shared memory and, holding whole heads of the
// tile's rows, applies MixerPrep's operation to them exactly as
// kernels/fused/fused_kernels.cu does (fp64 RoPE angles and norms, float
// exp), writing MixerPrep's outputs. The other blocks leave once block 0
// has read their sums. bf16 weights: as in gemv_decode_kernel.cu, only the
// core's weight type changes.
#include <cooperative_groups.h>
#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/gemv_decode/gemv_decode_core.cuh"
#include "kernels/gemv_decode/gemv_prep_kernel.h"

namespace hecate {
namespace {

namespace cg = cooperative_groups;
using gemv_core::kThreads;
using gemv_core::kWarps;
using gemv_core::Sigmoid;
using gemv_core::Silu;

constexpr int kTileCols = kGemvPrepTileCols;

__device__ __forceinline__ double WarpSum(double x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xFFFFFFFFu, x, o);
  return x;
}

// MixerPrep for the tile's columns of rows 0 .. rows-1; tile[r * 128 + c]
// holds the projection's column tile_col0 + c of row r.
template <int R>
__device__ void Epilogue(const MixerPrepParams& q, int rows, int n, int tile_col0,
                         const float* tile) {
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int d = q.dim, half = d / 2, width = q.heads * d;
  const int vec = tile_col0 / width;  // 0..5: qa ka va qm km vm; 6: gates
  if (vec >= 6) {
    const int n_gates = 3 * q.levels * q.heads;
    const int first = tile_col0 - 6 * width;
    for (int idx = tid; idx < R * kTileCols; idx += kThreads) {
      const int r = idx / kTileCols, c = idx % kTileCols, gate = first + c;
      if (r >= rows || gate >= n_gates || tile_col0 + c >= n) continue;
      const float g = Sigmoid(tile[idx] + q.gate_bias[gate]);
      q.gates[size_t(r) * n_gates + gate] = g;
      const int kind = gate / (q.levels * q.heads);
      const int level = (gate / q.heads) % q.levels, h = gate % q.heads;
      if (level == q.delta_level && kind < 2) {
        (kind == 0 ? q.alpha1 : q.theta1)[size_t(r) * q.heads + h] = g;
      }
    }
    return;
  }
  const int offset = tile_col0 - vec * width;  // the tile's first column in the vector
  float* const plane = q.act + size_t(vec) * q.plane;
  if (vec <= 1) {  // RoPE (rotate-half): pair (i, i + d/2) of each head
    constexpr int kPairs = kTileCols / 2;
    for (int idx = tid; idx < R * kPairs; idx += kThreads) {
      const int r = idx / kPairs, j = idx % kPairs;
      if (r >= rows) continue;
      const int head = j / half, i = j % half;
      const uint64_t pos = q.pulse[r / q.tokens] + uint64_t(r % q.tokens);
      const double angle = double(pos) * q.inv_freq[i];
      double sn, cs;
      sincos(angle, &sn, &cs);
      const float cf = float(cs), sf = float(sn);
      const int lo = head * d + i, hi = lo + half;
      const float x1 = tile[r * kTileCols + lo], x2 = tile[r * kTileCols + hi];
      float* out = plane + size_t(r) * width + offset;
      out[lo] = x1 * cf - x2 * sf;
      out[hi] = x2 * cf + x1 * sf;
    }
    return;
  }
  if (vec == 2 || vec == 5) {  // va copied, vm = silu(vm)
    for (int idx = tid; idx < R * kTileCols; idx += kThreads) {
      const int r = idx / kTileCols, c = idx % kTileCols;
      if (r >= rows) continue;
      const float v = tile[idx];
      plane[size_t(r) * width + offset + c] = vec == 2 ? v : Silu(v);
    }
    return;
  }
  // mq, mk: l2norm(silu(.)) per head, one warp per (row, head).
  const int heads_in_tile = kTileCols / d;
  for (int task = warp; task < R * heads_in_tile; task += kWarps) {
    const int r = task / heads_in_tile, head = task % heads_in_tile;
    if (r >= rows) continue;
    const float* in = tile + r * kTileCols + head * d;
    float* out = plane + size_t(r) * width + offset + head * d;
    double sum = 0.0;
    for (int i = lane; i < d; i += 32) {
      const float v = Silu(in[i]);
      sum += double(v) * v;
    }
    sum = WarpSum(sum);
    const float scale = float(1.0 / sqrt(sum + double(gemv_core::kNormEps)));
    for (int i = lane; i < d; i += 32) out[i] = Silu(in[i]) * scale;
  }
}

template <int R, GemvPrologue P, typename T>
__global__ void __launch_bounds__(kThreads, gemv_core::MinBlocksPerSm(R))
    GemvPrepKernel(GemvPrepParams params) {
  extern __shared__ float dynamic[];  // xs [R][slice], then warp_sums
  __shared__ float block_sums[R * kTileCols];
  __shared__ float tile[R * kTileCols];
  __shared__ double square_sums[kWarps * R];
  __shared__ float row_scale[R];
  const GemvDecodeParams& p = params.gemv;

  cg::cluster_group cluster = cg::this_cluster();
  const int split = static_cast<int>(cluster.block_rank());
  const int splits = static_cast<int>(cluster.num_blocks());
  float* xs = dynamic;
  float* warp_sums = dynamic + R * gemv_core::SliceRows(p.k, splits);
  gemv_core::BlockSums<R, P, kTileCols, T>(
      p, blockIdx.x, split, splits,
      gemv_core::Scratch<R, kTileCols>{xs, warp_sums, block_sums, square_sums, row_scale});

  cluster.sync();  // every slice's block_sums written
  if (split == 0) {
    for (int idx = threadIdx.x; idx < R * kTileCols; idx += kThreads) {
      float sum = 0.0f;
      for (int s = 0; s < splits; ++s) sum += cluster.map_shared_rank(block_sums, s)[idx];
      tile[idx] = sum;
    }
  }
  cluster.sync();  // block 0 has read every slice: the others may leave
  if (split != 0) return;
  __syncthreads();
  Epilogue<R>(params.prep, p.rows, p.n, blockIdx.x * kTileCols, tile);
}

// The warps' sums, after the slice in the dynamic shared memory.
size_t WarpSumBytes(int rows) {
  return size_t(kWarps) * gemv_core::RoundRows(rows) * kTileCols * sizeof(float);
}

// K rows a thread's loads are apart: 128 columns in 16-byte groups per K
// row. The slice shares the dynamic shared memory with the warps' sums.
template <typename T>
int PrepSplits(int rows, int k) {
  constexpr int kLanes = kThreads / (kTileCols / gemv_core::WeightLoad<T>::kPerLoad);
  return gemv_core::ChooseSplits(rows, k, kLanes, kGemvPrepMaxDynamicBytes - WarpSumBytes(rows));
}

// The slice (rows rounded up to the instantiation) and the warps' sums.
size_t SharedBytes(int rows, int k, int splits) {
  return gemv_core::SliceBytes(rows, k, splits) + WarpSumBytes(rows);
}

template <int R, GemvPrologue P, typename T>
cudaError_t LaunchRows(const GemvPrepParams& params, cudaStream_t stream) {
  const GemvDecodeParams& p = params.gemv;
  const int splits = PrepSplits<T>(p.rows, p.k);
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3((p.n + kTileCols - 1) / kTileCols, splits);
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = SharedBytes(p.rows, p.k, splits);
  config.stream = stream;
  cudaLaunchAttribute attributes[2];
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = 1;
  attributes[0].val.clusterDim.y = splits;
  attributes[0].val.clusterDim.z = 1;
  attributes[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[1].val.programmaticStreamSerializationAllowed = p.programmatic ? 1 : 0;
  config.attrs = attributes;
  config.numAttrs = 2;
  const cudaError_t launched = cudaLaunchKernelEx(&config, GemvPrepKernel<R, P, T>, params);
  return launched != cudaSuccess ? launched : cudaGetLastError();
}

template <GemvPrologue P, typename T>
cudaError_t LaunchPrologue(const GemvPrepParams& params, cudaStream_t stream) {
  switch (gemv_core::RoundRows(params.gemv.rows)) {
    case 1:
      return LaunchRows<1, P, T>(params, stream);
    case 2:
      return LaunchRows<2, P, T>(params, stream);
    case 4:
      return LaunchRows<4, P, T>(params, stream);
    default:
      return LaunchRows<8, P, T>(params, stream);
  }
}

template <typename T>
cudaError_t LaunchWeights(const GemvPrepParams& params, cudaStream_t stream) {
  // The qkv+gates projection's prologue is the layer's RMSNorm; kNone serves
  // tests and inputs already normalised.
  if (params.gemv.prologue == GemvPrologue::kRmsNorm) {
    return LaunchPrologue<GemvPrologue::kRmsNorm, T>(params, stream);
  }
  return LaunchPrologue<GemvPrologue::kNone, T>(params, stream);
}

}  // namespace

size_t GemvPrepSharedBytes(int rows, int k, GemvWeights weights) {
  if (rows < 1 || rows > kGemvDecodeMaxRows || k < 1) return 0;
  const int splits = weights == GemvWeights::kBf16 ? PrepSplits<__nv_bfloat16>(rows, k)
                                                   : PrepSplits<float>(rows, k);
  return SharedBytes(rows, k, splits);
}

cudaError_t LaunchGemvPrepKernel(const GemvPrepParams& params, cudaStream_t stream) {
  return params.gemv.weights == GemvWeights::kBf16 ? LaunchWeights<__nv_bfloat16>(params, stream)
                                                   : LaunchWeights<float>(params, stream);
}

}  // namespace hecate
