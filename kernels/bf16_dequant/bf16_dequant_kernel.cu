#include "kernels/bf16_dequant/bf16_dequant_kernel.h"

namespace hecate {
namespace {

constexpr int kThreads = 256;
constexpr size_t kMaxBlocks = 4096;

// A bf16 pattern is the top half of the fp32 with the same value: widening
// is a shift, exact for every pattern (NaN, infinities, subnormals).
__device__ __forceinline__ float Widen(uint32_t bits) { return __uint_as_float(bits << 16); }

// Eight values a thread and iteration: one 16-byte load, two 16-byte stores.
__global__ void Bf16ToFp32Vec8Kernel(const uint4* __restrict__ in, size_t groups,
                                     float4* __restrict__ out) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t g = size_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const uint4 v = in[g];
    out[2 * g] = make_float4(Widen(v.x & 0xffffu), Widen(v.x >> 16), Widen(v.y & 0xffffu),
                             Widen(v.y >> 16));
    out[2 * g + 1] = make_float4(Widen(v.z & 0xffffu), Widen(v.z >> 16),
                                 Widen(v.w & 0xffffu), Widen(v.w >> 16));
  }
}

__global__ void Bf16ToFp32Kernel(const uint16_t* __restrict__ in, size_t n,
                                 float* __restrict__ out) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    out[i] = Widen(in[i]);
  }
}

int Blocks(size_t items) {
  const size_t wanted = (items + kThreads - 1) / kThreads;
  return static_cast<int>(wanted < kMaxBlocks ? wanted : kMaxBlocks);
}

}  // namespace

cudaError_t LaunchBf16ToFp32Kernel(const uint16_t* in, size_t n, float* out,
                                   cudaStream_t stream) {
  size_t done = 0;
  const bool aligned = reinterpret_cast<uintptr_t>(in) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(out) % 16 == 0;
  if (aligned && n >= 8) {
    const size_t groups = n / 8;
    Bf16ToFp32Vec8Kernel<<<Blocks(groups), kThreads, 0, stream>>>(
        reinterpret_cast<const uint4*>(in), groups, reinterpret_cast<float4*>(out));
    done = groups * 8;
  }
  if (done < n) {
    Bf16ToFp32Kernel<<<Blocks(n - done), kThreads, 0, stream>>>(in + done, n - done,
                                                                  out + done);
  }
  return cudaGetLastError();
}

}  // namespace hecate
