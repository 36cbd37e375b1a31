#include "kernels/gemv_decode/gemv_prep.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"
#include "kernels/gemv_decode/gemv_decode.h"
#include "kernels/kernel_args.h"

namespace hecate {
namespace {

absl::Status Invalid(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("GemvPrep: ", what));
}

}  // namespace

bool GemvPrepSupports(const GemvPrepParams& params) {
  const GemvDecodeParams& g = params.gemv;
  const MixerPrepParams& q = params.prep;
  const int width = q.heads * q.dim;
  return (g.prologue == GemvPrologue::kNone || g.prologue == GemvPrologue::kRmsNorm) &&
         GemvDecodeSupportsWeights(g) && q.heads >= 1 && q.dim >= 2 &&
         q.dim % 2 == 0 && kGemvPrepTileCols % q.dim == 0 && width % kGemvPrepTileCols == 0 &&
         q.levels >= 1 && q.delta_level >= -1 && q.delta_level < q.levels && q.batch >= 1 &&
         q.tokens >= 1 && q.batch * q.tokens == g.rows &&
         g.n >= 6 * width + 3 * q.levels * q.heads &&
         GemvPrepSharedBytes(g.rows, g.k, g.weights) <= kGemvPrepMaxDynamicBytes;
}

absl::Status GemvPrep(const GemvPrepParams& params, cudaStream_t stream) {
  const GemvDecodeParams& g = params.gemv;
  const MixerPrepParams& q = params.prep;
  if (!GemvPrepSupports(params)) {
    return Invalid(absl::StrCat(
        "unsupported shape: rows ", g.rows, " n ", g.n, " k ", g.k, " ldw ", g.ldw,
        " prologue ", static_cast<int>(g.prologue), ", batch ", q.batch, " x tokens ", q.tokens,
        ", heads ", q.heads, " x dim ", q.dim, ", levels ", q.levels, " (delta level ",
        q.delta_level, ")"));
  }
  if (g.x_stride < size_t(g.k)) {
    return Invalid(absl::StrCat("x_stride must be >= k = ", g.k, ", got ", g.x_stride));
  }
  HECATE_RETURN_IF_ERROR(CheckKernelPointers("GemvPrep", {{g.x, "x"},
                                                          {q.pulse, "pulse"},
                                                          {q.inv_freq, "inv_freq"},
                                                          {q.gate_bias, "gate_bias"},
                                                          {q.act, "act"},
                                                          {q.gates, "gates"}}));
  if (g.prologue == GemvPrologue::kRmsNorm) {
    HECATE_RETURN_IF_ERROR(CheckKernelPointers("GemvPrep", {{g.gain, "gain"}}));
  }
  const int rows = g.rows, width = q.heads * q.dim, n_gates = 3 * q.levels * q.heads;
  if (q.delta_level >= 0) {
    HECATE_RETURN_IF_ERROR(
        CheckKernelPointers("GemvPrep", {{q.alpha1, "alpha1"}, {q.theta1, "theta1"}}));
  }
  if (q.plane < size_t(rows) * width) {
    return Invalid(absl::StrCat("plane must be >= rows * heads * dim = ", size_t(rows) * width,
                                ", got ", q.plane));
  }
  const size_t act = 5 * q.plane + size_t(rows) * width;
  const size_t x_floats = StridedFloats(rows, g.x_stride, g.k);
  const size_t heads_floats = q.delta_level >= 0 ? size_t(rows) * q.heads : 0;
  HECATE_RETURN_IF_ERROR(CheckNoOverlap(
      "GemvPrep",
      {{q.act, act, "act"},
       {q.gates, size_t(rows) * n_gates, "gates"},
       {q.alpha1, heads_floats, "alpha1"},
       {q.theta1, heads_floats, "theta1"}},
      {{g.x, x_floats, "x"},
       {GemvDecodeWeightsPointer(g), GemvDecodeWeightsFloats(g), "w"},
       {g.gain, g.prologue == GemvPrologue::kRmsNorm ? size_t(g.k) : 0, "gain"},
       {q.gate_bias, size_t(n_gates), "gate_bias"}}));
  return CudaStatus(LaunchGemvPrepKernel(params, stream), "GemvPrep launch");
}

}  // namespace hecate
