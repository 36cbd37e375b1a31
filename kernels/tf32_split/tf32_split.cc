#include "kernels/tf32_split/tf32_split.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"
#include "kernels/tf32_split/tf32_split_kernel.h"

namespace hecate {
namespace {

// Whether the byte ranges [a, a + a_bytes) and [b, b + b_bytes) meet.
bool Overlap(const void* a, size_t a_bytes, const void* b, size_t b_bytes) {
  const uintptr_t x = reinterpret_cast<uintptr_t>(a), y = reinterpret_cast<uintptr_t>(b);
  return x < y + b_bytes && y < x + a_bytes;
}

}  // namespace

absl::Status Tf32SplitRows(const float* in, int rows, int cols, size_t ld_in, float* hi,
                           float* lo, size_t ld_out, cudaStream_t stream) {
  if (rows < 0 || cols < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Tf32SplitRows: negative size ", rows, " x ", cols));
  }
  if (rows == 0 || cols == 0) return absl::OkStatus();
  if (ld_in < size_t(cols) || ld_out < size_t(cols)) {
    return absl::InvalidArgumentError(absl::StrCat("Tf32SplitRows: strides ", ld_in, " and ",
                                                   ld_out, " must be at least cols ", cols));
  }
  if (in == nullptr || hi == nullptr || lo == nullptr) {
    return absl::InvalidArgumentError("Tf32SplitRows: null device pointer");
  }
  // The spans the call touches, first row to the end of the last.
  const size_t in_bytes = ((rows - 1) * ld_in + cols) * sizeof(float);
  const size_t out_bytes = ((rows - 1) * ld_out + cols) * sizeof(float);
  if (Overlap(hi, out_bytes, lo, out_bytes) || Overlap(hi, out_bytes, in, in_bytes) ||
      Overlap(lo, out_bytes, in, in_bytes)) {
    return absl::InvalidArgumentError("Tf32SplitRows: outputs overlap each other or the input");
  }
  return CudaStatus(LaunchTf32SplitKernel(in, rows, cols, ld_in, hi, lo, ld_out, stream),
                    "Tf32SplitRows launch");
}

absl::Status AddTf32Products(const float* hi, const float* lo, size_t ld_p, int rows, int cols,
                             float beta, float* c, size_t ldc, cudaStream_t stream) {
  if (rows < 0 || cols < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("AddTf32Products: negative size ", rows, " x ", cols));
  }
  if (rows == 0 || cols == 0) return absl::OkStatus();
  if (ld_p < size_t(cols) || ldc < size_t(cols)) {
    return absl::InvalidArgumentError(absl::StrCat("AddTf32Products: strides ", ld_p, " and ",
                                                   ldc, " must be at least cols ", cols));
  }
  if (hi == nullptr || lo == nullptr || c == nullptr) {
    return absl::InvalidArgumentError("AddTf32Products: null device pointer");
  }
  const size_t p_bytes = ((rows - 1) * ld_p + cols) * sizeof(float);
  const size_t c_bytes = ((rows - 1) * ldc + cols) * sizeof(float);
  if (Overlap(c, c_bytes, hi, p_bytes) || Overlap(c, c_bytes, lo, p_bytes)) {
    return absl::InvalidArgumentError("AddTf32Products: the output overlaps an input");
  }
  return CudaStatus(
      LaunchAddTf32ProductsKernel(hi, lo, ld_p, rows, cols, beta, c, ldc, stream),
      "AddTf32Products launch");
}

}  // namespace hecate
