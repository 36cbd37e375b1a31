#include "kernels/smoke/saxpy_kernel.h"

namespace hecate {
namespace {

__global__ void SaxpyKernel(float a, const float* __restrict__ x,
                            float* __restrict__ y, size_t n) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = fmaf(a, x[i], y[i]);
  }
}

}  // namespace

cudaError_t LaunchSaxpyKernel(float a, const float* x, float* y, size_t n,
                              cudaStream_t stream) {
  const int threads = 256;
  const size_t wanted = (n + threads - 1) / threads;
  const int blocks = static_cast<int>(wanted < 4096 ? wanted : 4096);
  SaxpyKernel<<<blocks, threads, 0, stream>>>(a, x, y, n);
  return cudaGetLastError();
}

}  // namespace hecate
