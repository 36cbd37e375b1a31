// The decode GEMV: out[r, :] (+)= prologue(x)[r, :] @ W for 1..8 rows.
//
// Bandwidth-bound on W (one pass, 16-byte loads, nothing re-read), so the
// shape is chosen for bytes in flight and deterministic sums:
//   - grid: one thread-block cluster of kGemvDecodeSplits blocks per tile
//     of 32 columns; block s of a cluster takes K slice s;
//   - block (256 threads): thread (kl, cg) reads float4 column group cg
//     (8 per tile, one 128-byte line per K row) of K rows kl, kl + 32, ...
//     of the slice, the first kPrefetchRows of them into registers and the
//     rest into L2 *before* griddepcontrol.wait, so under PDL the weight
//     stream overlaps the previous kernel's tail;
//   - after the wait, the block computes the prologue for its K slice
//     (RMSNorm recomputes the row's fp64 sum of squares over all of K, a
//     few KB from L2) into shared memory, and every thread accumulates its
//     K rows in fp32 (fmaf, ascending k);
//   - sums: shuffle over the 4 K lanes of a warp, then the 8 warps in
//     order through shared memory, then the cluster's 8 slices in order
//     through distributed shared memory; block s of the cluster finishes
//     columns 4s .. 4s + 3 of the tile (and adds the residual). No atomics:
//     every run gives the same bits.
#include <cooperative_groups.h>

#include <cstdint>

#include "kernels/gemv_decode/gemv_decode_kernel.h"

namespace hecate {
namespace {

namespace cg = cooperative_groups;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kColGroups = kGemvDecodeTileCols / 4;  // float4 groups per tile
constexpr int kKLanes = kThreads / kColGroups;       // K rows in flight per block
constexpr int kPrefetchRows = 4;                     // per thread, in registers
constexpr float kNormEps = 1e-6f;
static_assert(kGemvDecodeTileCols % kGemvDecodeSplits == 0, "columns per slice");
constexpr int kColsPerSlice = kGemvDecodeTileCols / kGemvDecodeSplits;

__device__ __forceinline__ float Sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float Silu(float x) { return x / (1.0f + expf(-x)); }

__device__ __forceinline__ void GridDependencyWait() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
}
__device__ __forceinline__ void LaunchDependents() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}
__device__ __forceinline__ void PrefetchL2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}
__device__ __forceinline__ float4 LoadWeights(const float* p) {
  return __ldg(reinterpret_cast<const float4*>(p));
}

int RoundRows(int rows) { return rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : 8; }

template <int R>
__device__ __forceinline__ void Accumulate(float (&acc)[R][4], const float4& w,
                                           const float* xs, int slice, int i) {
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float x = xs[r * slice + i];
    acc[r][0] = fmaf(x, w.x, acc[r][0]);
    acc[r][1] = fmaf(x, w.y, acc[r][1]);
    acc[r][2] = fmaf(x, w.z, acc[r][2]);
    acc[r][3] = fmaf(x, w.w, acc[r][3]);
  }
}

template <int R, GemvPrologue P>
__global__ void __launch_bounds__(kThreads) GemvDecodeKernel(GemvDecodeParams p) {
  extern __shared__ float xs[];  // [R][slice]: the prologue's output
  __shared__ float warp_sums[kWarps][R][kGemvDecodeTileCols];
  __shared__ float block_sums[R][kGemvDecodeTileCols];
  __shared__ double square_sums[kWarps][R];
  __shared__ float row_scale[R];

  cg::cluster_group cluster = cg::this_cluster();
  const int split = static_cast<int>(cluster.block_rank());
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int group = tid % kColGroups, kl = tid / kColGroups;
  const int slice = (p.k + kGemvDecodeSplits - 1) / kGemvDecodeSplits;
  const int k0 = split * slice;
  const int k1 = min(p.k, k0 + slice);
  const int col = blockIdx.x * kGemvDecodeTileCols + group * 4;
  const bool col_ok = col < p.n;
  const float* wcol = p.w + col;

  // 1. Weights: independent of every earlier kernel, so fetched first.
  float4 held[kPrefetchRows];
#pragma unroll
  for (int u = 0; u < kPrefetchRows; ++u) {
    const int kk = k0 + kl + u * kKLanes;
    held[u] = col_ok && kk < k1 ? LoadWeights(wcol + size_t(kk) * p.ldw)
                                : make_float4(0.f, 0.f, 0.f, 0.f);
  }
  if (col_ok) {
    for (int kk = k0 + kl + kPrefetchRows * kKLanes; kk < k1; kk += kKLanes) {
      PrefetchL2(wcol + size_t(kk) * p.ldw);
    }
  }

  // 2. Everything below reads or writes what earlier kernels touch.
  GridDependencyWait();
  LaunchDependents();

  // 3. The prologue for this block's K slice, into shared memory.
  if constexpr (P == GemvPrologue::kRmsNorm) {
    double sums[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      double s = 0.0;
      if (r < p.rows) {
        const float* xr = p.x + size_t(r) * p.x_stride;
        for (int i = tid; i < p.k; i += kThreads) s += double(xr[i]) * xr[i];
      }
      for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xFFFFFFFFu, s, o);
      sums[r] = s;
    }
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < R; ++r) square_sums[warp][r] = sums[r];
    }
    __syncthreads();
    if (tid < R) {
      double s = 0.0;
      for (int w = 0; w < kWarps; ++w) s += square_sums[w][tid];
      row_scale[tid] = float(1.0 / sqrt(s / p.k + double(kNormEps)));
    }
    __syncthreads();
  }
  const int len = max(k1 - k0, 0);
  for (int idx = tid; idx < R * len; idx += kThreads) {
    const int r = idx / len, i = idx - r * len, kk = k0 + i;
    float v = 0.0f;
    if (r < p.rows) {
      const float* xr = p.x + size_t(r) * p.x_stride;
      if constexpr (P == GemvPrologue::kNone) {
        v = xr[kk];
      } else if constexpr (P == GemvPrologue::kRmsNorm) {
        v = xr[kk] * row_scale[r] * p.gain[kk];
      } else if constexpr (P == GemvPrologue::kMagGate) {
        float m = 0.0f;  // level by level, as kernels/fused's MagGate
        for (int j = 0; j < p.levels; ++j) {
          m += p.scale * p.y[j * p.y_plane + size_t(r) * p.y_stride + kk];
        }
        v = xr[kk] * Sigmoid(m);
      } else {
        v = Silu(xr[kk]) * xr[p.k + kk];
      }
    }
    xs[r * slice + i] = v;
  }
  __syncthreads();

  // 4. fp32 products, K rows ascending per thread.
  float acc[R][4];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = 0.0f;
#pragma unroll
  for (int u = 0; u < kPrefetchRows; ++u) {
    const int kk = k0 + kl + u * kKLanes;
    if (kk < k1) Accumulate<R>(acc, held[u], xs, slice, kk - k0);
  }
  for (int base = k0 + kl + kPrefetchRows * kKLanes; base < k1;
       base += kPrefetchRows * kKLanes) {
    float4 next[kPrefetchRows];
#pragma unroll
    for (int u = 0; u < kPrefetchRows; ++u) {
      const int kk = base + u * kKLanes;
      next[u] = col_ok && kk < k1 ? LoadWeights(wcol + size_t(kk) * p.ldw)
                                  : make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int u = 0; u < kPrefetchRows; ++u) {
      const int kk = base + u * kKLanes;
      if (kk < k1) Accumulate<R>(acc, next[u], xs, slice, kk - k0);
    }
  }

  // 5. Sums: the warp's K lanes (lane bits 3 and 4), then the warps in
  // order, then the cluster's slices in order.
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      float v = acc[r][c];
      v += __shfl_xor_sync(0xFFFFFFFFu, v, 8);
      v += __shfl_xor_sync(0xFFFFFFFFu, v, 16);
      acc[r][c] = v;
    }
  }
  if (lane < kColGroups) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int c = 0; c < 4; ++c) warp_sums[warp][r][group * 4 + c] = acc[r][c];
    }
  }
  __syncthreads();
  for (int idx = tid; idx < R * kGemvDecodeTileCols; idx += kThreads) {
    const int r = idx / kGemvDecodeTileCols, c = idx % kGemvDecodeTileCols;
    float s = 0.0f;
    for (int w = 0; w < kWarps; ++w) s += warp_sums[w][r][c];
    block_sums[r][c] = s;
  }
  cluster.sync();
  if (tid < R * kColsPerSlice) {
    const int r = tid / kColsPerSlice;
    const int c = split * kColsPerSlice + tid % kColsPerSlice;
    const int out_col = blockIdx.x * kGemvDecodeTileCols + c;
    float s = 0.0f;
    for (int q = 0; q < kGemvDecodeSplits; ++q) {
      s += cluster.map_shared_rank(&block_sums[0][0], q)[r * kGemvDecodeTileCols + c];
    }
    if (r < p.rows && out_col < p.n) {
      float* o = p.out + size_t(r) * p.out_stride + out_col;
      *o = p.accumulate ? *o + s : s;
    }
  }
  cluster.sync();  // keep block_sums alive until every slice has read it
}

template <int R, GemvPrologue P>
cudaError_t LaunchRows(const GemvDecodeParams& p, cudaStream_t stream) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3((p.n + kGemvDecodeTileCols - 1) / kGemvDecodeTileCols, kGemvDecodeSplits);
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = GemvDecodeSliceBytes(p.rows, p.k);
  config.stream = stream;
  cudaLaunchAttribute attributes[2];
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = 1;
  attributes[0].val.clusterDim.y = kGemvDecodeSplits;
  attributes[0].val.clusterDim.z = 1;
  attributes[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[1].val.programmaticStreamSerializationAllowed = p.programmatic ? 1 : 0;
  config.attrs = attributes;
  config.numAttrs = 2;
  const cudaError_t launched = cudaLaunchKernelEx(&config, GemvDecodeKernel<R, P>, p);
  return launched != cudaSuccess ? launched : cudaGetLastError();
}

template <GemvPrologue P>
cudaError_t LaunchPrologue(const GemvDecodeParams& p, cudaStream_t stream) {
  switch (RoundRows(p.rows)) {
    case 1:
      return LaunchRows<1, P>(p, stream);
    case 2:
      return LaunchRows<2, P>(p, stream);
    case 4:
      return LaunchRows<4, P>(p, stream);
    default:
      return LaunchRows<8, P>(p, stream);
  }
}

}  // namespace

size_t GemvDecodeSliceBytes(int rows, int k) {
  if (rows < 1 || rows > kGemvDecodeMaxRows || k < 1) return 0;
  const size_t slice = (size_t(k) + kGemvDecodeSplits - 1) / kGemvDecodeSplits;
  return size_t(RoundRows(rows)) * slice * sizeof(float);
}

cudaError_t LaunchGemvDecodeKernel(const GemvDecodeParams& p, cudaStream_t stream) {
  switch (p.prologue) {
    case GemvPrologue::kRmsNorm:
      return LaunchPrologue<GemvPrologue::kRmsNorm>(p, stream);
    case GemvPrologue::kMagGate:
      return LaunchPrologue<GemvPrologue::kMagGate>(p, stream);
    case GemvPrologue::kSwiGlu:
      return LaunchPrologue<GemvPrologue::kSwiGlu>(p, stream);
    default:
      return LaunchPrologue<GemvPrologue::kNone>(p, stream);
  }
}

}  // namespace hecate
