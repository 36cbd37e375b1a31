#include "kernels/testing/copy_kernel.h"

#include "kernels/multiprocessors.cuh"

namespace hecate {
namespace testing {
namespace {

__global__ void CopyFloat4Kernel(const float4* __restrict__ src,
                                 float4* __restrict__ dst, size_t count4) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count4;
       i += stride) {
    __stcs(dst + i, __ldcs(src + i));
  }
}

}  // namespace

cudaError_t LaunchCopyFloat4(const void* src, void* dst, size_t count4,
                             cudaStream_t stream) {
  int sms = 0;
  const cudaError_t err = CurrentMultiprocessors(&sms);
  if (err != cudaSuccess) return err;
  const int threads = 512;
  const int blocks = sms * 8;
  CopyFloat4Kernel<<<blocks, threads, 0, stream>>>(
      static_cast<const float4*>(src), static_cast<float4*>(dst), count4);
  return cudaGetLastError();
}

}  // namespace testing
}  // namespace hecate
