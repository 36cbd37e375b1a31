// sm90_ptx.cuh: the Hopper primitives behind the cluster scan
// (gdr_prefill_scan.cu): thread-block-cluster queries and barriers,
// mbarriers, bulk copies multicast to every block of a cluster, and the
// 3xTF32 tensor-core product. Device code only (sm_90).
#ifndef HECATE_KERNELS_GDR_PREFILL_SM90_PTX_CUH_
#define HECATE_KERNELS_GDR_PREFILL_SM90_PTX_CUH_

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
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes"
      " [%0], [%1], %2, [%3];\n" ::"r"(dst),
      "l"(src), "r"(bytes), "r"(bar)
      : "memory");
#endif
}

// 3xTF32: x = hi + lo with hi = x truncated to tf32 (a mask) and lo = x - hi
// (exact); hi*hi + hi*lo + lo*hi keeps products to about float32 precision.
// lo goes to the tensor core as raw float32 bits: tf32 operands ignore the
// low 13 bits, which truncates lo to its top 11 (relative error 2^-21 of x,
// the same order as the lo*lo term left out). Two instructions per element
// instead of cvt.rna, sub, cvt.rna: the split is most of these kernels'
// arithmetic-pipe work.
struct Tf32Pair {
  uint32_t hi, lo;
};
__device__ __forceinline__ Tf32Pair Split(float x) {
  const uint32_t hi = __float_as_uint(x) & 0xFFFFE000u;
  return {hi, __float_as_uint(x - __uint_as_float(hi))};
}

// d += a b for one m16n8k8 tile; operand layouts as in the PTX ISA
// (g = lane / 4, t = lane % 4): a0 (g, t), a1 (g+8, t), a2 (g, t+4),
// a3 (g+8, t+4); b0 (k t, n g), b1 (k t+4, n g); d0 (g, 2t), d1 (g, 2t+1),
// d2 (g+8, 2t), d3 (g+8, 2t+1).
__device__ __forceinline__ void MmaTf32(float (&d)[4], uint32_t a0, uint32_t a1,
                                        uint32_t a2, uint32_t a3, uint32_t b0,
                                        uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
// The three products, small terms first.
__device__ __forceinline__ void Mma3xTf32(float (&d)[4], float a0, float a1,
                                          float a2, float a3, float b0, float b1) {
  const Tf32Pair x0 = Split(a0), x1 = Split(a1), x2 = Split(a2), x3 = Split(a3);
  const Tf32Pair y0 = Split(b0), y1 = Split(b1);
  MmaTf32(d, x0.lo, x1.lo, x2.lo, x3.lo, y0.hi, y1.hi);
  MmaTf32(d, x0.hi, x1.hi, x2.hi, x3.hi, y0.lo, y1.lo);
  MmaTf32(d, x0.hi, x1.hi, x2.hi, x3.hi, y0.hi, y1.hi);
}

// As Mma3xTf32 with b already split (b0 = bh0 + bl0, b1 = bh1 + bl1).
__device__ __forceinline__ void Mma3xTf32SplitB(float (&d)[4], float a0, float a1,
                                                float a2, float a3, uint32_t bh0,
                                                uint32_t bh1, uint32_t bl0,
                                                uint32_t bl1) {
  const Tf32Pair x0 = Split(a0), x1 = Split(a1), x2 = Split(a2), x3 = Split(a3);
  MmaTf32(d, x0.lo, x1.lo, x2.lo, x3.lo, bh0, bh1);
  MmaTf32(d, x0.hi, x1.hi, x2.hi, x3.hi, bl0, bl1);
  MmaTf32(d, x0.hi, x1.hi, x2.hi, x3.hi, bh0, bh1);
}

}  // namespace hecate

#endif  // HECATE_KERNELS_GDR_PREFILL_SM90_PTX_CUH_
