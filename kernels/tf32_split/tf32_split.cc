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

}  // namespace hecate
