// cp_async.cuh: 16-byte asynchronous global -> shared copies (sm_80+), for
// the prefill kernels. Device code only.
#ifndef HECATE_KERNELS_GDR_PREFILL_CP_ASYNC_CUH_
#define HECATE_KERNELS_GDR_PREFILL_CP_ASYNC_CUH_

namespace hecate {

// Copies 16 bytes; with src_bytes 0 it writes 16 zero bytes instead (gmem
// must still be a valid address).
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem,
                                          int src_bytes) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst),
               "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void CpAsyncCommit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
// Waits until at most kPending committed groups are still in flight.
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

}  // namespace hecate

#endif  // HECATE_KERNELS_GDR_PREFILL_CP_ASYNC_CUH_
