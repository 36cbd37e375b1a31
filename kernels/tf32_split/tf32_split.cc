#include "kernels/tf32_split/tf32_split.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "kernels/cuda_check.h"
#include "kernels/kernel_args.h"
#include "kernels/tf32_split/tf32_split_kernel.h"

namespace hecate {

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
  HECATE_RETURN_IF_ERROR(
      CheckKernelPointers("Tf32SplitRows", {{in, "in"}, {hi, "hi"}, {lo, "lo"}}));
  // The spans the call touches, first row to the end of the last.
  const size_t in_floats = StridedFloats(rows, ld_in, cols);
  const size_t out_floats = StridedFloats(rows, ld_out, cols);
  HECATE_RETURN_IF_ERROR(CheckNoOverlap("Tf32SplitRows",
                                        {{hi, out_floats, "hi"}, {lo, out_floats, "lo"}},
                                        {{in, in_floats, "in"}}));
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
  HECATE_RETURN_IF_ERROR(
      CheckKernelPointers("AddTf32Products", {{hi, "hi"}, {lo, "lo"}, {c, "c"}}));
  const size_t p_floats = StridedFloats(rows, ld_p, cols);
  HECATE_RETURN_IF_ERROR(CheckNoOverlap("AddTf32Products",
                                        {{c, StridedFloats(rows, ldc, cols), "c"}},
                                        {{hi, p_floats, "hi"}, {lo, p_floats, "lo"}}));
  return CudaStatus(
      LaunchAddTf32ProductsKernel(hi, lo, ld_p, rows, cols, beta, c, ldc, stream),
      "AddTf32Products launch");
}

}  // namespace hecate
