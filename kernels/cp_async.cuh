// cp_async.cuh: asynchronous global -> shared copies (sm_80+) for the
// kernels that stage tiles in shared memory (gdr_prefill, cms_slow).
// Device code only.
#ifndef HECATE_KERNELS_CP_ASYNC_CUH_
#define HECATE_KERNELS_CP_ASYNC_CUH_

namespace hecate {

// Copies 16 bytes, bypassing L1; with src_bytes 0 it writes 16 zero bytes
// instead (gmem must still be a valid address).
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem,
                                          int src_bytes = 16) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst),
               "l"(gmem), "r"(src_bytes));
}
// Copies 4 bytes through L1 (scalars reused by neighbouring blocks).
__device__ __forceinline__ void CpAsync4(void* smem, const void* gmem) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(dst), "l"(gmem));
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

#endif  // HECATE_KERNELS_CP_ASYNC_CUH_
