// The decode GEMV: out[r, :] (+)= prologue(x)[r, :] @ W for 1..8 rows.
//
// Bandwidth-bound on W (one pass, 16-byte loads, nothing re-read), so the
// shape is chosen for bytes in flight and deterministic sums: one
// thread-block cluster of 1-8 blocks (gemv_core::ChooseSplits) per tile of
// columns (32 in fp32, 64 in bf16: one 128-byte line per K row either way),
// block s of a cluster taking K slice s (gemv_decode_core.cuh: weights
// fetched before griddepcontrol.wait, the prologue, the block's sums). Each
// block then pushes its sums of every column to the block that finishes
// that column (distributed shared memory, one cluster barrier); block s
// sums its share of the tile's columns over the slices in order (and adds
// the residual). No atomics: every run gives the same bits. bf16 weights
// (GemvWeights::kBf16) keep the threads' shape and the bytes a block
// streams per K row, so their tiles are twice as wide and the grid half as
// large: with fp32's 32-column tiles a bf16 block moved half the bytes for
// the same fixed costs (26% of copy bandwidth at 1 row on the H200,
// against fp32's 44%).
#include <cooperative_groups.h>
#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/gemv_decode/gemv_decode_core.cuh"
#include "kernels/gemv_decode/gemv_decode_kernel.h"

namespace hecate {
namespace {

namespace cg = cooperative_groups;
using gemv_core::kThreads;
using gemv_core::kWarps;

// Columns of a tile: 16-byte loads of 8 column groups, 128 bytes a K row.
template <typename T>
constexpr int kTileCols = 8 * gemv_core::WeightLoad<T>::kPerLoad;
static_assert(kTileCols<float> == kGemvDecodeTileCols, "fp32 tile");

template <int R, GemvPrologue P, typename T>
__global__ void __launch_bounds__(kThreads, gemv_core::MinBlocksPerSm(R))
    GemvDecodeKernel(GemvDecodeParams p) {
  constexpr int kTileCols = ::hecate::kTileCols<T>;
  static_assert(kTileCols % kGemvDecodeSplits == 0, "columns per slice");
  extern __shared__ float xs[];
  __shared__ float warp_sums[kWarps * R * kTileCols];
  __shared__ float block_sums[R * kTileCols];
  // [splits][R][kTileCols / splits]: this block's columns of every slice's
  // block_sums, pushed here by the slice's block.
  __shared__ float received[R * kTileCols];
  __shared__ double square_sums[kWarps * R];
  __shared__ float row_scale[R];

  cg::cluster_group cluster = cg::this_cluster();
  const int split = static_cast<int>(cluster.block_rank());
  const int splits = static_cast<int>(cluster.num_blocks());
  // Another block's shared memory may be written only once that block has
  // started: each block says so on entry, and waits for the others just
  // before its remote stores (by then they have long arrived): the two
  // halves of one cluster barrier phase, as cluster.sync() is both.
  __cluster_barrier_arrive_relaxed();
  gemv_core::BlockSums<R, P, kTileCols, T>(
      p, blockIdx.x, split, splits,
      gemv_core::Scratch<R, kTileCols>{xs, warp_sums, block_sums, square_sums, row_scale});

  // Each column's sums go to the block that finishes it (remote stores, so
  // one full cluster barrier: nothing reads another block's memory after
  // it, and a block may leave while the others still sum).
  __cluster_barrier_wait();
  const int cols_per_slice = kTileCols / splits;
  for (int idx = threadIdx.x; idx < R * kTileCols; idx += kThreads) {
    const int r = idx / kTileCols, c = idx % kTileCols, owner = c / cols_per_slice;
    cluster.map_shared_rank(received, owner)[(split * R + r) * cols_per_slice +
                                             c - owner * cols_per_slice] = block_sums[idx];
  }
  cluster.sync();
  for (int idx = threadIdx.x; idx < R * cols_per_slice; idx += kThreads) {
    const int r = idx / cols_per_slice, local = idx % cols_per_slice;
    const int out_col = blockIdx.x * kTileCols + split * cols_per_slice + local;
    float sum = 0.0f;  // slices in order: the same bits every run
    for (int q = 0; q < splits; ++q) sum += received[(q * R + r) * cols_per_slice + local];
    if (r < p.rows && out_col < p.n) {
      float* o = p.out + size_t(r) * p.out_stride + out_col;
      *o = p.accumulate ? *o + sum : sum;
    }
  }
}

// Every decode-kernel instantiation reads K rows 32 apart (8 column groups
// of 16 bytes a tile).
int DecodeSplits(int rows, int k) {
  return gemv_core::ChooseSplits(rows, k, /*k_lanes=*/kThreads / 8, kGemvDecodeMaxSliceBytes);
}

template <int R, GemvPrologue P, typename T>
cudaError_t LaunchRows(const GemvDecodeParams& p, cudaStream_t stream) {
  const int splits = DecodeSplits(p.rows, p.k);
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3((p.n + kTileCols<T> - 1) / kTileCols<T>, splits);
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = gemv_core::SliceBytes(p.rows, p.k, splits);
  config.stream = stream;
  // bf16's wider tiles take more static shared memory: past the 48 KB a
  // launch gets without asking, ask (per launch, so every device is asked).
  constexpr size_t kStaticBytes = (size_t(kWarps + 2) * R * kTileCols<T> + R) * sizeof(float) +
                                  size_t(kWarps) * R * sizeof(double);
  if (config.dynamicSmemBytes + kStaticBytes > 48 * 1024) {
    const cudaError_t opted =
        cudaFuncSetAttribute(GemvDecodeKernel<R, P, T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(config.dynamicSmemBytes));
    if (opted != cudaSuccess) return opted;
  }
  cudaLaunchAttribute attributes[2];
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = 1;
  attributes[0].val.clusterDim.y = splits;
  attributes[0].val.clusterDim.z = 1;
  attributes[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[1].val.programmaticStreamSerializationAllowed = p.programmatic ? 1 : 0;
  config.attrs = attributes;
  config.numAttrs = 2;
  const cudaError_t launched = cudaLaunchKernelEx(&config, GemvDecodeKernel<R, P, T>, p);
  return launched != cudaSuccess ? launched : cudaGetLastError();
}

template <GemvPrologue P, typename T>
cudaError_t LaunchPrologue(const GemvDecodeParams& p, cudaStream_t stream) {
  switch (gemv_core::RoundRows(p.rows)) {
    case 1:
      return LaunchRows<1, P, T>(p, stream);
    case 2:
      return LaunchRows<2, P, T>(p, stream);
    case 4:
      return LaunchRows<4, P, T>(p, stream);
    default:
      return LaunchRows<8, P, T>(p, stream);
  }
}

template <typename T>
cudaError_t LaunchWeights(const GemvDecodeParams& p, cudaStream_t stream) {
  switch (p.prologue) {
    case GemvPrologue::kRmsNorm:
      return LaunchPrologue<GemvPrologue::kRmsNorm, T>(p, stream);
    case GemvPrologue::kMagGate:
      return LaunchPrologue<GemvPrologue::kMagGate, T>(p, stream);
    case GemvPrologue::kSwiGlu:
      return LaunchPrologue<GemvPrologue::kSwiGlu, T>(p, stream);
    default:
      return LaunchPrologue<GemvPrologue::kNone, T>(p, stream);
  }
}

}  // namespace

size_t GemvDecodeSliceBytes(int rows, int k) {
  if (rows < 1 || rows > kGemvDecodeMaxRows || k < 1) return 0;
  return gemv_core::SliceBytes(rows, k, DecodeSplits(rows, k));
}

cudaError_t LaunchGemvDecodeKernel(const GemvDecodeParams& p, cudaStream_t stream) {
  return p.weights == GemvWeights::kBf16 ? LaunchWeights<__nv_bfloat16>(p, stream)
                                         : LaunchWeights<float>(p, stream);
}

}  // namespace hecate
