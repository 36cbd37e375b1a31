// Dense float32 matrix products for the CPU reference backend.
//
// Gemm computes C = A @ B (or C += A @ B), row-major, with register-blocked
// micro-kernels compiled for AVX-512, AVX2+FMA and baseline x86-64 and picked
// at run time (target_clones). Work is split over output columns and rows in
// a fixed way, and every element of C is the same sum in the same order
// whatever m is: a row's results do not depend on the rows beside it.
#ifndef HECATE_BACKENDS_CPU_GEMM_H_
#define HECATE_BACKENDS_CPU_GEMM_H_

#include <cstdint>

namespace hecate::cpu {

// C[m x n] (=|+=) A[m x k] @ B[k x n]; leading dimensions in floats.
void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc, bool accumulate);

// Single-threaded Gemm, for callers that already run in parallel.
void GemmSerial(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                int64_t ldb, float* c, int64_t ldc, bool accumulate);

// out[cols x rows] = in[rows x cols]^T.
void Transpose(int64_t rows, int64_t cols, const float* in, int64_t ld_in, float* out,
               int64_t ld_out);

}  // namespace hecate::cpu

#endif  // HECATE_BACKENDS_CPU_GEMM_H_
