// bf16_dequant.h: bf16 weights widened to fp32 on the device.
//
// The bf16-weights mode (runtime/backend.h, WeightFormat::kBf16) keeps the
// layers' matrices as bf16; steps of many rows (prefill, large decode
// batches) widen one matrix at a time into a reusable fp32 buffer and run the
// fp32 (or tf32) cuBLAS GEMM on it unchanged. Widening is exact, so the GEMM
// multiplies by the very values the bf16 decode GEMVs use.
//
//   HECATE_RETURN_IF_ERROR(Bf16ToFp32(w_bf16, k * n, scratch, stream));
//   // then GEMM with scratch as the [k, n] fp32 matrix
//
// Bandwidth-bound elementwise (2 bytes in, 4 out per value); inputs and
// outputs 16-byte aligned take 16-byte loads.
#ifndef HECATE_KERNELS_BF16_DEQUANT_BF16_DEQUANT_H_
#define HECATE_KERNELS_BF16_DEQUANT_BF16_DEQUANT_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace hecate {

// out[i] = the fp32 value of the bf16 bit pattern in[i], for i < n; device
// pointers. n == 0 launches nothing. INVALID_ARGUMENT for a null pointer
// with n > 0 or overlapping ranges; INTERNAL for a launch error.
absl::Status Bf16ToFp32(const uint16_t* in, size_t n, float* out, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_BF16_DEQUANT_BF16_DEQUANT_H_
