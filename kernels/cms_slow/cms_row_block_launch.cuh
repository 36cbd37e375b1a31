// cms_row_block_launch.cuh: the launch the slow levels' tensor-core kernels
// share (cms_span_tile_kernel.cu, cms_chunk_kernel.cu), for nvcc only. Both
// give a block kBlockRows value rows of one (session, level of the call,
// head): grid x = row blocks, y = (level, head), z = session, and both come
// in eight- and four-warp, 3xTF32 and TF32 instantiations at d = 64 and 128.
// K names a kernel's instantiations:
//   K::Kernel<kDim, kWarps, kPrecise>()  its __global__ function
//   K::SmemBytes<kDim, kWarps>()         its dynamic shared memory
#ifndef HECATE_KERNELS_CMS_SLOW_CMS_ROW_BLOCK_LAUNCH_CUH_
#define HECATE_KERNELS_CMS_SLOW_CMS_ROW_BLOCK_LAUNCH_CUH_

#include <cstddef>
#include <cstdint>

#include "kernels/cms_slow/cms_slow_kernel.h"
#include "kernels/multiprocessors.cuh"

namespace hecate {
namespace cms_launch {

constexpr int kBlockRows = 16;  // the mma's m

template <class K, int kDim, int kWarps, bool kPrecise>
cudaError_t LaunchRowBlocks(const CmsSlowParams& p, cudaStream_t stream) {
  constexpr size_t kBytes = K::template SmemBytes<kDim, kWarps>();
  const auto kernel = K::template Kernel<kDim, kWarps, kPrecise>();
  if constexpr (kBytes > 48 * 1024) {
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kBytes));
    if (err != cudaSuccess) return err;
  }
  const dim3 grid(kDim / kBlockRows, p.heads * p.count, p.batch);
  kernel<<<grid, 32 * kWarps, kBytes, stream>>>(p);
  return cudaGetLastError();
}

// Eight warps a block while the grid leaves multiprocessors idle (a group's
// or window's work is a chain of dependent steps; more warps shorten each
// one's share), four once blocks outnumber them twice (fewer instructions in
// all: partial sums are added by fewer warps). For the span tiles on an H200
// at the base config's 3 x 8 x 8 blocks a session, T = 2048: at B = 1 eight
// warps 366 us against four 426 us (the latter measured while S still lived
// in shared memory); at B = 4 four 909 us against eight 1098 us.
template <class K, int kDim>
cudaError_t LaunchForGrid(const CmsSlowParams& p, cudaStream_t stream) {
  int sms = 0;
  const cudaError_t err = CurrentMultiprocessors(&sms);
  if (err != cudaSuccess) return err;
  const int64_t blocks = int64_t(kDim / kBlockRows) * p.heads * p.count * p.batch;
  const bool eight = blocks <= 2 * sms;
  if (p.tf32) {
    return eight ? LaunchRowBlocks<K, kDim, 8, false>(p, stream)
                 : LaunchRowBlocks<K, kDim, 4, false>(p, stream);
  }
  return eight ? LaunchRowBlocks<K, kDim, 8, true>(p, stream)
               : LaunchRowBlocks<K, kDim, 4, true>(p, stream);
}

template <class K>
cudaError_t LaunchRowBlockKernel(const CmsSlowParams& p, cudaStream_t stream) {
  switch (p.dim) {
    case 64:
      return LaunchForGrid<K, 64>(p, stream);
    case 128:
      return LaunchForGrid<K, 128>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace cms_launch
}  // namespace hecate

#endif  // HECATE_KERNELS_CMS_SLOW_CMS_ROW_BLOCK_LAUNCH_CUH_
