#include "kernels/swa_decode/swa_decode.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"
#include "kernels/kernel_args.h"

namespace hecate {
namespace {

absl::Status Invalid(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("SwaDecode: ", what));
}

absl::Status Validate(const SwaDecodeParams& p) {
  if (p.batch < 1) return Invalid(absl::StrCat("batch must be >= 1, got ", p.batch));
  if (p.heads < 1) return Invalid(absl::StrCat("heads must be >= 1, got ", p.heads));
  if (p.window < 1) return Invalid(absl::StrCat("window must be >= 1, got ", p.window));
  if (p.dim < 4 || p.dim > 256 || p.dim % 4 != 0) {
    return Invalid(absl::StrCat("dim must be a multiple of 4 in [4, 256], got ", p.dim));
  }
  if (p.splits != 1 && p.splits != 2 && p.splits != 4 && p.splits != 8) {
    return Invalid(absl::StrCat("splits must be 1, 2, 4 or 8, got ", p.splits));
  }
  if (!(std::isfinite(p.scale) && p.scale > 0)) {
    return Invalid(absl::StrCat("scale must be finite and > 0, got ", p.scale));
  }
  if (p.k_offset % 4 != 0 || p.v_offset % 4 != 0) {
    return Invalid("k_offset and v_offset must be multiples of 4 floats");
  }
  HECATE_RETURN_IF_ERROR(CheckKernelPointers("SwaDecode", {{p.states, "states"},
                                                           {p.pulse, "pulse"},
                                                           {p.q, "q", kFloat4Loads},
                                                           {p.k, "k", kFloat4Loads},
                                                           {p.v, "v", kFloat4Loads},
                                                           {p.out, "out", kFloat4Loads}}));
  if (int64_t(p.batch) * p.heads > 65535) {
    return Invalid(absl::StrCat("batch * heads must be <= 65535, got ",
                                int64_t(p.batch) * p.heads));
  }
  const size_t vectors = size_t(p.batch) * p.heads * p.dim;
  return CheckNoOverlap("SwaDecode", {{p.out, vectors, "out"}},
                        {{p.q, vectors, "q"}, {p.k, vectors, "k"}, {p.v, vectors, "v"}});
}

}  // namespace

absl::Status SwaDecode(const SwaDecodeParams& params, cudaStream_t stream) {
  HECATE_RETURN_IF_ERROR(Validate(params));
  return CudaStatus(LaunchSwaDecodeKernel(params, stream), "SwaDecode launch");
}

int SwaDecodeSplits(int batch, int heads, int window, int multiprocessors) {
  const int64_t pairs = int64_t(batch) * heads;
  int splits = 1;
  while (splits < 8 && pairs * splits < 2 * int64_t(multiprocessors) &&
         window / (2 * splits) >= 32) {
    splits *= 2;
  }
  return splits;
}

double SwaDecodeMinBytes(const SwaDecodeParams& p) {
  const double pairs = double(p.batch) * p.heads;
  const double rings = 2.0 * pairs * p.window * p.dim * sizeof(float);
  const double vectors = 6.0 * pairs * p.dim * sizeof(float);  // q,k,v,out,slot
  return rings + vectors + p.batch * (sizeof(uint64_t) + sizeof(float*));
}

}  // namespace hecate
