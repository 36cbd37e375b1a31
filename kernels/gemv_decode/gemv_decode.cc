#include "kernels/gemv_decode/gemv_decode.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"
#include "kernels/kernel_args.h"

namespace hecate {
namespace {

absl::Status Invalid(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("GemvDecode: ", what));
}

absl::Status Validate(const GemvDecodeParams& p) {
  if (p.rows < 1 || p.rows > kGemvDecodeMaxRows) {
    return Invalid(absl::StrCat("rows must be in [1, ", kGemvDecodeMaxRows, "], got ", p.rows));
  }
  if (p.n < 4 || p.n % 4 != 0) {
    return Invalid(absl::StrCat("n must be a positive multiple of 4, got ", p.n));
  }
  if (p.k < 1 || GemvDecodeSliceBytes(p.rows, p.k) > kGemvDecodeMaxSliceBytes) {
    return Invalid(absl::StrCat("k must be >= 1 with its slice of ", p.rows, " rows within ",
                                kGemvDecodeMaxSliceBytes, " bytes of shared memory, got ", p.k));
  }
  const int weights = static_cast<int>(p.weights);
  if (weights < 0 || weights > static_cast<int>(GemvWeights::kBf16)) {
    return Invalid(absl::StrCat("unknown weight type ", weights));
  }
  const bool bf16 = p.weights == GemvWeights::kBf16;
  const size_t ldw_multiple = bf16 ? 8 : 4;
  if (p.ldw < size_t(p.n) || p.ldw % ldw_multiple != 0) {
    return Invalid(absl::StrCat("ldw must be a multiple of ", ldw_multiple, " and >= n = ", p.n,
                                ", got ", p.ldw));
  }
  const int prologue = static_cast<int>(p.prologue);
  if (prologue < 0 || prologue > static_cast<int>(GemvPrologue::kSwiGlu)) {
    return Invalid(absl::StrCat("unknown prologue ", prologue));
  }
  const bool swiglu = p.prologue == GemvPrologue::kSwiGlu;
  const size_t x_width = swiglu ? 2 * size_t(p.k) : size_t(p.k);
  if (p.x_stride < x_width) {
    return Invalid(absl::StrCat("x_stride must be >= ", x_width, ", got ", p.x_stride));
  }
  if (p.out_stride < size_t(p.n)) {
    return Invalid(absl::StrCat("out_stride must be >= n = ", p.n, ", got ", p.out_stride));
  }
  const char* w_name = bf16 ? "w_bf16" : "w";
  HECATE_RETURN_IF_ERROR(CheckKernelPointers(
      "GemvDecode",
      {{p.x, "x"}, {GemvDecodeWeightsPointer(p), w_name, kFloat4Loads}, {p.out, "out"}}));
  const size_t out_floats = StridedFloats(p.rows, p.out_stride, p.n);
  const size_t x_floats = StridedFloats(p.rows, p.x_stride, x_width);
  const size_t w_floats = GemvDecodeWeightsFloats(p);
  if (p.prologue == GemvPrologue::kRmsNorm) {
    HECATE_RETURN_IF_ERROR(CheckKernelPointers("GemvDecode", {{p.gain, "gain"}}));
    HECATE_RETURN_IF_ERROR(CheckNoOverlap("GemvDecode", {{p.out, out_floats, "out"}},
                                          {{p.gain, size_t(p.k), "gain"}}));
  }
  if (p.prologue == GemvPrologue::kMagGate) {
    HECATE_RETURN_IF_ERROR(CheckKernelPointers("GemvDecode", {{p.y, "y"}}));
    if (p.levels < 1 || p.y_stride < size_t(p.k) ||
        (p.levels > 1 && p.y_plane < StridedFloats(p.rows, p.y_stride, p.k))) {
      return Invalid(absl::StrCat("MAG needs levels >= 1, y_stride >= k and planes that do not "
                                  "overlap, got levels ",
                                  p.levels, ", y_stride ", p.y_stride, ", y_plane ", p.y_plane));
    }
    const size_t y_floats =
        size_t(p.levels - 1) * p.y_plane + StridedFloats(p.rows, p.y_stride, p.k);
    HECATE_RETURN_IF_ERROR(
        CheckNoOverlap("GemvDecode", {{p.out, out_floats, "out"}}, {{p.y, y_floats, "y"}}));
  }
  return CheckNoOverlap("GemvDecode", {{p.out, out_floats, "out"}},
                        {{p.x, x_floats, "x"}, {GemvDecodeWeightsPointer(p), w_floats, w_name}});
}

// What GemvDecodeSupports(Bf16) accept: weight rows `ldw_multiple` elements
// apart at least, starting 16-byte aligned.
bool ShapeFits(int rows, int n, int k, const void* w, size_t ldw, size_t ldw_multiple) {
  return rows >= 1 && rows <= kGemvDecodeMaxRows && n >= 4 && n % 4 == 0 && k >= 1 &&
         GemvDecodeSliceBytes(rows, k) <= kGemvDecodeMaxSliceBytes && ldw >= size_t(n) &&
         ldw % ldw_multiple == 0 && w != nullptr && reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

}  // namespace

bool GemvDecodeSupports(int rows, int n, int k, const float* w, size_t ldw) {
  return ShapeFits(rows, n, k, w, ldw, /*ldw_multiple=*/4);
}

bool GemvDecodeSupportsBf16(int rows, int n, int k, const uint16_t* w_bf16, size_t ldw) {
  return ShapeFits(rows, n, k, w_bf16, ldw, /*ldw_multiple=*/8);  // 16-byte rows
}

bool GemvDecodeSupportsWeights(const GemvDecodeParams& p) {
  switch (p.weights) {
    case GemvWeights::kFp32:
      return GemvDecodeSupports(p.rows, p.n, p.k, p.w, p.ldw);
    case GemvWeights::kBf16:
      return GemvDecodeSupportsBf16(p.rows, p.n, p.k, p.w_bf16, p.ldw);
  }
  return false;
}

const void* GemvDecodeWeightsPointer(const GemvDecodeParams& p) {
  return p.weights == GemvWeights::kBf16 ? static_cast<const void*>(p.w_bf16)
                                         : static_cast<const void*>(p.w);
}

size_t GemvDecodeWeightsFloats(const GemvDecodeParams& p) {
  const size_t elements = StridedFloats(p.k, p.ldw, p.n);
  return p.weights == GemvWeights::kBf16 ? (elements + 1) / 2 : elements;
}

absl::Status GemvDecode(const GemvDecodeParams& params, cudaStream_t stream) {
  HECATE_RETURN_IF_ERROR(Validate(params));
  return CudaStatus(LaunchGemvDecodeKernel(params, stream), "GemvDecode launch");
}

double GemvDecodeMinBytes(const GemvDecodeParams& p) {
  const double f = sizeof(float);
  const double w_bytes = p.weights == GemvWeights::kBf16 ? 2 : f;
  double bytes = double(p.k) * p.n * w_bytes;                           // W
  bytes += double(p.rows) * p.n * f * (p.accumulate ? 2 : 1);           // out
  const double x = double(p.rows) * p.k * f;
  switch (p.prologue) {
    case GemvPrologue::kRmsNorm:
      return bytes + x + p.k * f;
    case GemvPrologue::kMagGate:
      return bytes + x * (1 + p.levels);
    case GemvPrologue::kSwiGlu:
      return bytes + 2 * x;
    default:
      return bytes + x;
  }
}

}  // namespace hecate
