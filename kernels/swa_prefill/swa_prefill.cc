#include "kernels/swa_prefill/swa_prefill.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"
#include "kernels/kernel_args.h"

namespace hecate {
namespace {

absl::Status Invalid(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("SwaPrefill: ", what));
}

absl::Status Validate(const SwaPrefillParams& p) {
  if (p.batch < 1 || p.batch > 65535) {
    return Invalid(absl::StrCat("batch must be in [1, 65535], got ", p.batch));
  }
  if (p.heads < 1 || p.heads > 65535) {
    return Invalid(absl::StrCat("heads must be in [1, 65535], got ", p.heads));
  }
  if (p.window < 1) return Invalid(absl::StrCat("window must be >= 1, got ", p.window));
  if (p.dim < 4 || p.dim > 128 || p.dim % 4 != 0) {
    return Invalid(absl::StrCat("dim must be a multiple of 4 in [4, 128], got ", p.dim));
  }
  if (p.tokens < 0) return Invalid(absl::StrCat("tokens must be >= 0, got ", p.tokens));
  const size_t width = size_t(p.heads) * p.dim;
  if (p.qkv_stride < width || p.out_stride < width) {
    return Invalid(absl::StrCat("qkv_stride and out_stride must be >= heads * dim = ", width));
  }
  if (!(std::isfinite(p.scale) && p.scale > 0)) {
    return Invalid(absl::StrCat("scale must be finite and > 0, got ", p.scale));
  }
  HECATE_RETURN_IF_ERROR(CheckKernelPointers("SwaPrefill", {{p.states, "states"},
                                                            {p.pulse, "pulse"},
                                                            {p.q, "q"},
                                                            {p.k, "k"},
                                                            {p.v, "v"},
                                                            {p.out, "out"}}));
  const size_t rows = size_t(p.batch) * p.tokens;
  const size_t qkv = StridedFloats(rows, p.qkv_stride, width);
  return CheckNoOverlap("SwaPrefill", {{p.out, StridedFloats(rows, p.out_stride, width), "out"}},
                        {{p.q, qkv, "q"}, {p.k, qkv, "k"}, {p.v, qkv, "v"}});
}

}  // namespace

absl::Status SwaPrefill(const SwaPrefillParams& params, cudaStream_t stream) {
  HECATE_RETURN_IF_ERROR(Validate(params));
  if (params.tokens == 0) return absl::OkStatus();
  HECATE_RETURN_IF_ERROR(
      CudaStatus(LaunchSwaPrefillAttention(params, stream), "SwaPrefill attention launch"));
  return CudaStatus(LaunchSwaPrefillRingWrite(params, stream), "SwaPrefill ring write launch");
}

}  // namespace hecate
