#include "backends/cuda/weight_format.h"

#include <utility>

#include "kernels/gemv_decode/bf16_weights.h"

namespace hecate {

bool IsBf16Matrix(const WeightSpec& spec) {
  return spec.shape.size() == 2 && spec.name != "embed";
}

size_t WeightBytes(const Weights& weights, WeightFormat format) {
  size_t bytes = 0;
  for (const WeightSpec& spec : weights.specs()) {
    const bool half = format == WeightFormat::kBf16 && IsBf16Matrix(spec);
    bytes += spec.size * (half ? sizeof(uint16_t) : sizeof(float));
  }
  return bytes;
}

std::shared_ptr<const Model> RoundModelMatricesToBf16(const Model& model) {
  Weights weights = model.weights().Clone();
  absl::Span<float> data = weights.mutable_data();
  for (const WeightSpec& spec : weights.specs()) {
    if (!IsBf16Matrix(spec)) continue;
    for (float& v : data.subspan(spec.offset, spec.size)) v = Bf16BitsToFloat(FloatToBf16Bits(v));
  }
  return std::make_shared<const Model>(model.config(), std::move(weights));
}

}  // namespace hecate
