// sm90_ptx.cuh: Hopper primitives as inline PTX: thread-block-cluster
// queries and barriers, mbarriers, and bulk copies from global to shared
// memory (one block's, or multicast to every block of a cluster). Used by
// the delta rule's cluster scan (gdr_prefill) and the weight-streaming
// bound (gemv_decode/stage_stream_kernel.cu). Device code only (sm_90).
#ifndef HECATE_KERNELS_SM90_PTX_CUH_
#define HECATE_KERNELS_SM90_PTX_CUH_

#include <cstdint>

namespace hecate {

__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ uint32_t ClusterRank() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
__device__ __forceinline__ uint32_t ClusterSize() {
  uint32_t r;
  asm volatile("mov.u32 %0, %%cluster_nctarank;\n" : "=r"(r));
  return r;
}

// Split cluster barrier: every thread of every block arrives once per
// phase and waits before it arrives again. Release/acquire order the
// block's reads of a buffer before peers refill it.
__device__ __forceinline__ void ClusterArrive() {
  asm volatile("barrier.cluster.arrive.release;\n" ::: "memory");
}
// Arrival without release semantics. barrier.cluster.arrive.release puts
// a cluster-wide memory barrier (ERRBAR + CGAERRBAR) in every thread: in
// the scan, once per chunk, that was 45% of all stall samples. Callers use
// this only where the ordering they need is that shared-memory reads are
// done, and every value they read has already been consumed.
__device__ __forceinline__ void ClusterArriveRelaxed() {
  asm volatile("barrier.cluster.arrive.relaxed;\n" ::: "memory");
}
__device__ __forceinline__ void ClusterWait() {
  asm volatile("barrier.cluster.wait.acquire;\n" ::: "memory");
}

__device__ __forceinline__ void MbarInit(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count)
               : "memory");
}
// Makes mbarrier initialisation visible to the async proxy and to peers.
__device__ __forceinline__ void MbarInitFence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
// Ordinary shared-memory stores before later bulk copies into the same
// bytes (the copy engine is another proxy).
__device__ __forceinline__ void FenceProxyAsync() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// One arrival that also announces `bytes` still to land. Peers' copies may
// land first: the phase cannot complete before this arrival.
__device__ __forceinline__ void MbarArriveExpectTx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void MbarWait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "GDR_WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
      "@p bra GDR_DONE;\n"
      "bra GDR_WAIT;\n"
      "GDR_DONE:\n"
      "}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}

// One arrival (count 1) on an mbarrier of this block.
__device__ __forceinline__ void MbarArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

// Copies `bytes` (a multiple of 16, both addresses 16-byte aligned) from
// global memory to this block's shared memory at `dst`, completing on the
// mbarrier at `bar` (which must expect the bytes).
__device__ __forceinline__ void BulkCopy(uint32_t dst, const void* src, uint32_t bytes,
                                         uint32_t bar) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1], %2, [%3];\n" ::"r"(dst),
      "l"(src), "r"(bytes), "r"(bar)
      : "memory");
}

// Multicast bulk copies are an sm_90a feature (ptxas refuses them for
// plain sm_90, which the build also emits). Without them every block
// copies the whole tile itself: correct, slower.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
inline constexpr bool kHasMulticast = true;
#else
inline constexpr bool kHasMulticast = false;
#endif

// Copies `bytes` (a multiple of 16, both addresses 16-byte aligned) from
// global memory to the same shared offset `dst` in every block of `mask`
// (only this block without multicast), each completing on its own
// mbarrier at offset `bar`.
__device__ __forceinline__ void BulkCopyMulticast(uint32_t dst, const void* src,
                                                  uint32_t bytes, uint32_t bar,
                                                  uint16_t mask) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes"
      ".multicast::cluster [%0], [%1], %2, [%3], %4;\n" ::"r"(dst),
      "l"(src), "r"(bytes), "r"(bar), "h"(mask)
      : "memory");
#else
  (void)mask;
  BulkCopy(dst, src, bytes, bar);
#endif
}

}  // namespace hecate

#endif  // HECATE_KERNELS_SM90_PTX_CUH_
