#include "kernels/gdr_prefill/gdr_prefill.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"
#include "kernels/kernel_args.h"

namespace hecate {
namespace {

absl::Status Invalid(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("GdrPrefill: ", what));
}

absl::Status Validate(const GdrPrefillParams& p) {
  if (p.batch < 1) return Invalid(absl::StrCat("batch must be >= 1, got ", p.batch));
  if (p.heads < 1) return Invalid(absl::StrCat("heads must be >= 1, got ", p.heads));
  if (int64_t(p.batch) * p.heads > 65535) {
    return Invalid(absl::StrCat("batch * heads must be <= 65535, got ",
                                int64_t(p.batch) * p.heads));
  }
  if (p.dim != 64 && p.dim != 128) {
    return Invalid(absl::StrCat("dim must be 64 or 128 (the kernels are "
                                "specialised per head width), got ", p.dim));
  }
  if (p.tokens < 0) return Invalid(absl::StrCat("tokens must be >= 0, got ", p.tokens));
  if ((int64_t(p.tokens) + kGdrChunk - 1) / kGdrChunk > 65535) {
    return Invalid(absl::StrCat("tokens must be <= ", 65535 * kGdrChunk,
                                " (65535 chunks of ", kGdrChunk, "), got ", p.tokens));
  }
  if (p.qkv_stride < size_t(p.heads) * p.dim || p.qkv_stride % 4 != 0) {
    return Invalid(absl::StrCat("qkv_stride must be >= heads * dim = ",
                                p.heads * p.dim, " and a multiple of 4, got ",
                                p.qkv_stride));
  }
  if (p.gate_stride < size_t(p.heads)) {
    return Invalid(absl::StrCat("gate_stride must be >= heads = ", p.heads,
                                ", got ", p.gate_stride));
  }
  if (p.state_offset % 4 != 0) {
    return Invalid(absl::StrCat("state_offset must be a multiple of 4, got ",
                                p.state_offset));
  }
  HECATE_RETURN_IF_ERROR(CheckKernelPointers("GdrPrefill", {{p.states, "states"},
                                                            {p.q, "q", kFloat4Loads},
                                                            {p.k, "k", kFloat4Loads},
                                                            {p.v, "v", kFloat4Loads},
                                                            {p.alpha, "alpha"},
                                                            {p.theta, "theta"},
                                                            {p.y, "y", kFloat4Loads},
                                                            {p.workspace, "workspace", kFloat4Loads}}));
  const size_t needed =
      GdrPrefillWorkspaceFloats(p.batch, p.heads, p.dim, p.tokens);
  if (p.workspace_floats < needed) {
    return Invalid(absl::StrCat("workspace holds ", p.workspace_floats,
                                " floats, needs ", needed));
  }
  const size_t rows = size_t(p.batch) * p.tokens, width = size_t(p.heads) * p.dim;
  const size_t qkv = StridedFloats(rows, p.qkv_stride, width);
  const size_t gates = StridedFloats(rows, p.gate_stride, p.heads);
  return CheckNoOverlap("GdrPrefill",
                        {{p.y, rows * width, "y"}, {p.workspace, needed, "workspace"}},
                        {{p.q, qkv, "q"},
                         {p.k, qkv, "k"},
                         {p.v, qkv, "v"},
                         {p.alpha, gates, "alpha"},
                         {p.theta, gates, "theta"}});
}

}  // namespace

absl::Status GdrPrefill(const GdrPrefillParams& params, cudaStream_t stream) {
  HECATE_RETURN_IF_ERROR(Validate(params));
  if (params.tokens == 0) return absl::OkStatus();
  HECATE_RETURN_IF_ERROR(CudaStatus(LaunchGdrPrefillChunkKernel(params, stream),
                                    "GdrPrefill chunk launch"));
  return CudaStatus(LaunchGdrPrefillScanKernel(params, stream),
                    "GdrPrefill scan launch");
}

}  // namespace hecate
