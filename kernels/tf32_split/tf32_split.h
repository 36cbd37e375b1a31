// tf32_split.h: fp32 matrices split on the device into TF32 hi and lo parts
// (tf32_split_reference.h gives the bit-exact semantics), for the 3xtf32 GEMM
// mode: C = A_lo W_hi + A_hi W_lo + A_hi W_hi on TF32 tensor cores keeps
// fp32-level accuracy (the dropped A_lo W_lo is ~2^-22 of a product), and
// every operand is exactly TF32, so each product is exact whatever rounding
// cuBLAS applies to its inputs (backends/cuda/forward_engine_layer.cc).
//
//   // A [rows, k] with leading dimension lda into two packed [rows, k]:
//   HECATE_RETURN_IF_ERROR(Tf32SplitRows(a, rows, k, lda, a_hi, a_lo, k, stream));
//
//   // The stacked form: one GEMM of [A_hi; A_lo] (2 rows x k) by W_hi into P,
//   // A_hi W_lo into C (the caller's beta), then C += P_lo + P_hi:
//   HECATE_RETURN_IF_ERROR(AddTf32Products(p, p + rows * n, n, rows, n, 1.0f, c, ldc, stream));
//
// Bandwidth-bound elementwise (split: 4 bytes in, 8 out per value; used on
// the weights once at load and on each many-row step's activations; add: 12
// in, 4 out).
#ifndef HECATE_KERNELS_TF32_SPLIT_TF32_SPLIT_H_
#define HECATE_KERNELS_TF32_SPLIT_TF32_SPLIT_H_

#include <cuda_runtime_api.h>

#include <cstddef>

#include "absl/status/status.h"

namespace hecate {

// hi[r * ld_out + c], lo[r * ld_out + c] = Tf32Split(in[r * ld_in + c]) for
// r < rows, c < cols; device pointers; nothing else is written. rows or cols
// 0 launches nothing. INVALID_ARGUMENT for negative sizes, strides below
// cols, null pointers with work to do, or outputs overlapping each other or
// the input; INTERNAL for a launch error.
absl::Status Tf32SplitRows(const float* in, int rows, int cols, size_t ld_in, float* hi,
                           float* lo, size_t ld_out, cudaStream_t stream);

// c[r * ldc + j] = Tf32ProductSum(c[..], beta, lo[r * ld_p + j], hi[r * ld_p + j])
// (tf32_split_reference.h: (beta c + lo) + hi, the small terms first) for
// r < rows, j < cols; beta == 0 never reads c (it may hold NaN). Device
// pointers; hi and lo may share a buffer (read only), c must meet neither.
// rows or cols 0 launches nothing. INVALID_ARGUMENT for negative sizes,
// strides below cols, null pointers with work to do, or c overlapping an
// input; INTERNAL for a launch error.
absl::Status AddTf32Products(const float* hi, const float* lo, size_t ld_p, int rows, int cols,
                             float beta, float* c, size_t ldc, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_TF32_SPLIT_TF32_SPLIT_H_
