#include "kernels/gdr_decode/gdr_decode.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"

namespace hecate {
namespace {

bool Aligned16(const void* ptr) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0;
}

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
  const struct {
    const void* ptr;
    const char* name;
    bool vector;
  } pointers[] = {{p.states, "states", false}, {p.q, "q", true},
                  {p.k, "k", true},           {p.v, "v", true},
                  {p.alpha, "alpha", false},  {p.theta, "theta", false},
                  {p.y, "y", true}};
  for (const auto& ptr : pointers) {
    if (ptr.ptr == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("GdrDecode: ", ptr.name, " is null"));
    }
    if (ptr.vector && !Aligned16(ptr.ptr)) {
      return absl::InvalidArgumentError(
          absl::StrCat("GdrDecode: ", ptr.name, " is not 16-byte aligned"));
    }
  }
  return absl::OkStatus();
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
