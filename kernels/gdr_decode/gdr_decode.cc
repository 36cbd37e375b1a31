#include "kernels/gdr_decode/gdr_decode.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"
#include "kernels/kernel_args.h"

namespace hecate {
namespace {

absl::Status Validate(const GdrDecodeParams& p) {
  if (p.batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("GdrDecode: batch must be >= 1, got ", p.batch));
  }
  if (p.heads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("GdrDecode: heads must be >= 1, got ", p.heads));
  }
  if (p.dim < 4 || p.dim > 256 || p.dim % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GdrDecode: dim must be a multiple of 4 in [4, 256], got ", p.dim));
  }
  if (p.state_offset % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GdrDecode: state_offset must be a multiple of 4 floats, got ",
        p.state_offset));
  }
  HECATE_RETURN_IF_ERROR(CheckKernelPointers("GdrDecode", {{p.states, "states"},
                                                           {p.q, "q", kFloat4Loads},
                                                           {p.k, "k", kFloat4Loads},
                                                           {p.v, "v", kFloat4Loads},
                                                           {p.alpha, "alpha"},
                                                           {p.theta, "theta"},
                                                           {p.y, "y", kFloat4Loads}}));
  const size_t gates = size_t(p.batch) * p.heads, vectors = gates * p.dim;
  return CheckNoOverlap("GdrDecode", {{p.y, vectors, "y"}},
                        {{p.q, vectors, "q"},
                         {p.k, vectors, "k"},
                         {p.v, vectors, "v"},
                         {p.alpha, gates, "alpha"},
                         {p.theta, gates, "theta"}});
}

}  // namespace

absl::Status GdrDecode(const GdrDecodeParams& params, cudaStream_t stream) {
  HECATE_RETURN_IF_ERROR(Validate(params));
  return CudaStatus(LaunchGdrDecodeKernel(params, stream), "GdrDecode launch");
}

double GdrDecodeMinBytes(const GdrDecodeParams& p) {
  const double bh = double(p.batch) * p.heads;
  const double state = 2.0 * bh * p.dim * p.dim * sizeof(float);
  const double vectors = 4.0 * bh * p.dim * sizeof(float);  // q, k, v, y
  const double gates = 2.0 * bh * sizeof(float);
  const double pointers = double(p.batch) * sizeof(float*);
  return state + vectors + gates + pointers;
}

}  // namespace hecate
