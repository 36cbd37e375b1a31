#include "kernels/fused/fused.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"

namespace hecate {
namespace {

absl::Status Invalid(const char* op, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(op, ": ", what));
}

absl::Status Positive(const char* op, const char* name, int value) {
  if (value >= 1) return absl::OkStatus();
  return Invalid(op, absl::StrCat(name, " must be >= 1, got ", value));
}

absl::Status NonNull(const char* op, const char* name, const void* ptr) {
  if (ptr != nullptr) return absl::OkStatus();
  return Invalid(op, absl::StrCat(name, " is null"));
}

}  // namespace

absl::Status EmbedGather(const EmbedGatherParams& p, cudaStream_t stream) {
  const char* op = "EmbedGather";
  HECATE_RETURN_IF_ERROR(Positive(op, "rows", p.rows));
  HECATE_RETURN_IF_ERROR(Positive(op, "width", p.width));
  HECATE_RETURN_IF_ERROR(NonNull(op, "tokens", p.tokens));
  HECATE_RETURN_IF_ERROR(NonNull(op, "embed", p.embed));
  HECATE_RETURN_IF_ERROR(NonNull(op, "out", p.out));
  return CudaStatus(LaunchEmbedGather(p, stream), "EmbedGather launch");
}

absl::Status RmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  const char* op = "RmsNorm";
  HECATE_RETURN_IF_ERROR(Positive(op, "rows", p.rows));
  HECATE_RETURN_IF_ERROR(Positive(op, "width", p.width));
  if (p.in_stride < size_t(p.width)) {
    return Invalid(op, absl::StrCat("in_stride ", p.in_stride, " < width ", p.width));
  }
  HECATE_RETURN_IF_ERROR(NonNull(op, "in", p.in));
  HECATE_RETURN_IF_ERROR(NonNull(op, "gain", p.gain));
  HECATE_RETURN_IF_ERROR(NonNull(op, "out", p.out));
  return CudaStatus(LaunchRmsNorm(p, stream), "RmsNorm launch");
}

absl::Status MixerPrep(const MixerPrepParams& p, cudaStream_t stream) {
  const char* op = "MixerPrep";
  HECATE_RETURN_IF_ERROR(Positive(op, "batch", p.batch));
  HECATE_RETURN_IF_ERROR(Positive(op, "tokens", p.tokens));
  HECATE_RETURN_IF_ERROR(Positive(op, "heads", p.heads));
  HECATE_RETURN_IF_ERROR(Positive(op, "levels", p.levels));
  if (p.dim < 2 || p.dim % 2 != 0) {
    return Invalid(op, absl::StrCat("dim must be even and >= 2, got ", p.dim));
  }
  if (p.delta_level < -1 || p.delta_level >= p.levels) {
    return Invalid(op, absl::StrCat("delta_level must be in [-1, ", p.levels, "), got ",
                                    p.delta_level));
  }
  const size_t width = size_t(p.heads) * p.dim;
  const size_t needed = 6 * width + 3 * size_t(p.levels) * p.heads;
  if (p.proj_stride < needed) {
    return Invalid(op, absl::StrCat("proj_stride must be >= ", needed, ", got ", p.proj_stride));
  }
  const size_t rows = size_t(p.batch) * p.tokens;
  if (p.plane < rows * width) {
    return Invalid(op, absl::StrCat("plane must be >= rows * width = ", rows * width,
                                    ", got ", p.plane));
  }
  HECATE_RETURN_IF_ERROR(NonNull(op, "pulse", p.pulse));
  HECATE_RETURN_IF_ERROR(NonNull(op, "inv_freq", p.inv_freq));
  HECATE_RETURN_IF_ERROR(NonNull(op, "proj", p.proj));
  HECATE_RETURN_IF_ERROR(NonNull(op, "gate_bias", p.gate_bias));
  HECATE_RETURN_IF_ERROR(NonNull(op, "act", p.act));
  HECATE_RETURN_IF_ERROR(NonNull(op, "gates", p.gates));
  if (p.delta_level >= 0) {
    HECATE_RETURN_IF_ERROR(NonNull(op, "alpha1", p.alpha1));
    HECATE_RETURN_IF_ERROR(NonNull(op, "theta1", p.theta1));
  }
  return CudaStatus(LaunchMixerPrep(p, stream), "MixerPrep launch");
}

absl::Status MagGate(const MagGateParams& p, cudaStream_t stream) {
  const char* op = "MagGate";
  HECATE_RETURN_IF_ERROR(Positive(op, "rows", p.rows));
  HECATE_RETURN_IF_ERROR(Positive(op, "width", p.width));
  HECATE_RETURN_IF_ERROR(Positive(op, "levels", p.levels));
  if (p.plane < size_t(p.rows) * p.width) {
    return Invalid(op, absl::StrCat("plane must be >= rows * width, got ", p.plane));
  }
  HECATE_RETURN_IF_ERROR(NonNull(op, "attn", p.attn));
  HECATE_RETURN_IF_ERROR(NonNull(op, "y", p.y));
  return CudaStatus(LaunchMagGate(p, stream), "MagGate launch");
}

absl::Status SwiGlu(const SwiGluParams& p, cudaStream_t stream) {
  const char* op = "SwiGlu";
  HECATE_RETURN_IF_ERROR(Positive(op, "rows", p.rows));
  HECATE_RETURN_IF_ERROR(Positive(op, "ff", p.ff));
  HECATE_RETURN_IF_ERROR(NonNull(op, "h", p.h));
  return CudaStatus(LaunchSwiGlu(p, stream), "SwiGlu launch");
}

}  // namespace hecate
