// Bulk L2 prefetches (sm_90 `cp.async.bulk.prefetch.L2`): one thread asks
// the copy engine for kL2PrefetchPieceBytes and moves on; nothing is
// written and nothing waits, so a few warps put tens of megabytes in flight
// and leave the multiprocessors to whatever runs beside them.
#include <cstdint>

#include "kernels/gemv_decode/l2_prefetch_kernel.h"

namespace hecate {
namespace {

constexpr int kThreads = 32;

__global__ void __launch_bounds__(kThreads) L2PrefetchKernel(L2PrefetchParams p) {
  size_t piece = size_t(blockIdx.x) * kThreads + threadIdx.x;
  for (int s = 0; s < p.count; ++s) {
    const size_t pieces = (p.bytes[s] + kL2PrefetchPieceBytes - 1) / kL2PrefetchPieceBytes;
    if (piece < pieces) {
      const size_t offset = piece * kL2PrefetchPieceBytes;
      const size_t left = p.bytes[s] - offset;
      const uint32_t bytes =
          static_cast<uint32_t>(left < kL2PrefetchPieceBytes ? left : kL2PrefetchPieceBytes);
      const char* at = static_cast<const char*>(p.begin[s]) + offset;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(at), "r"(bytes)
                   : "memory");
#else
      (void)at;
      (void)bytes;
#endif
      return;
    }
    piece -= pieces;
  }
}

}  // namespace

cudaError_t LaunchL2PrefetchKernel(const L2PrefetchParams& p, cudaStream_t stream) {
  size_t pieces = 0;
  for (int s = 0; s < p.count; ++s) {
    pieces += (p.bytes[s] + kL2PrefetchPieceBytes - 1) / kL2PrefetchPieceBytes;
  }
  if (pieces == 0) return cudaSuccess;
  const unsigned blocks = static_cast<unsigned>((pieces + kThreads - 1) / kThreads);
  L2PrefetchKernel<<<blocks, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace hecate
