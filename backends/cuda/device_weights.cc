#include "backends/cuda/device_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cuda_check.h"

namespace hecate {
namespace {

constexpr size_t kAlignFloats = 64;  // 256 bytes

size_t AlignUp(size_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

// Host image of the device allocation, tensor by tensor.
class HostImage {
 public:
  // Reserves `floats` (zeroed) and returns their offset.
  size_t Reserve(size_t floats) {
    const size_t offset = data_.size();
    data_.resize(AlignUp(offset + floats), 0.0f);
    return offset;
  }
  size_t Append(const float* src, size_t floats) {
    const size_t offset = Reserve(floats);
    std::memcpy(data_.data() + offset, src, floats * sizeof(float));
    return offset;
  }
  float* at(size_t offset) { return data_.data() + offset; }
  const std::vector<float>& data() const { return data_; }

 private:
  std::vector<float> data_;
};

// Copies a [rows, cols] row-major matrix into columns [col0, col0 + cols) of
// a [rows, stride] one.
void PlaceColumns(const float* src, int rows, int cols, float* dst, int stride, int col0) {
  for (int r = 0; r < rows; ++r) {
    std::memcpy(dst + size_t(r) * stride + col0, src + size_t(r) * cols, cols * sizeof(float));
  }
}

struct LayerOffsets {
  size_t norm1, proj, gate_bias, wo, norm2, w13, w2;
};

}  // namespace

int DeviceWeights::ProjCols(const ModelConfig& c) {
  const int cols = 6 * c.d_model + 3 * c.levels() * c.n_heads;
  return (cols + 3) / 4 * 4;
}

absl::StatusOr<DeviceWeights> DeviceWeights::Upload(const Model& model) {
  const ModelConfig& c = model.config();
  const Weights& w = model.weights();
  const int dm = c.d_model, f = c.d_ff, n_gates = 3 * c.levels() * c.n_heads;
  DeviceWeights out;
  out.proj_cols_ = ProjCols(c);

  HostImage image;
  const size_t embed = image.Append(w.embed(), size_t(c.vocab_size) * dm);
  const size_t norm_f = image.Append(w.norm_f(), dm);
  std::vector<LayerOffsets> offsets(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w.layer(l);
    LayerOffsets& o = offsets[l];
    o.norm1 = image.Append(lw.norm1, dm);
    o.proj = image.Reserve(size_t(dm) * out.proj_cols_);
    PlaceColumns(lw.attn_wqkv, dm, 3 * dm, image.at(o.proj), out.proj_cols_, 0);
    PlaceColumns(lw.mem_wqkv, dm, 3 * dm, image.at(o.proj), out.proj_cols_, 3 * dm);
    PlaceColumns(lw.mem_wgate, dm, n_gates, image.at(o.proj), out.proj_cols_, 6 * dm);
    o.gate_bias = image.Append(lw.mem_bgate, n_gates);
    o.wo = image.Append(lw.wo, size_t(dm) * dm);
    o.norm2 = image.Append(lw.norm2, dm);
    o.w13 = image.Reserve(size_t(dm) * 2 * f);
    PlaceColumns(lw.w1, dm, f, image.at(o.w13), 2 * f, 0);
    PlaceColumns(lw.w3, dm, f, image.at(o.w13), 2 * f, f);
    o.w2 = image.Append(lw.w2, size_t(f) * dm);
  }

  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> data,
                          DeviceBuffer<float>::Create(image.data().size()));
  HECATE_RETURN_IF_ERROR(data.CopyFromHost(absl::MakeConstSpan(image.data())));
  out.data_ = std::move(data);

  const int half = c.head_dim() / 2;
  std::vector<double> inv_freq(std::max(half, 1));
  for (int i = 0; i < half; ++i) {
    // As backends/cpu/ops.cc Rope: pow(base, -2i/d) in float64.
    inv_freq[i] = std::pow(10000.0, -2.0 * static_cast<double>(i) / c.head_dim());
  }
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<double> freq, DeviceBuffer<double>::Create(inv_freq.size()));
  HECATE_RETURN_IF_ERROR(freq.CopyFromHost(absl::MakeConstSpan(inv_freq)));
  out.inv_freq_ = std::move(freq);

  const float* base = out.data_.data();
  out.embed_ = base + embed;
  out.norm_f_ = base + norm_f;
  out.layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerOffsets& o = offsets[l];
    out.layers_[l] = DeviceLayerWeights{base + o.norm1, base + o.proj, base + o.gate_bias,
                                        base + o.wo,    base + o.norm2, base + o.w13,
                                        base + o.w2};
  }
  out.weight_bytes_ = w.data().size() * sizeof(float);
  return out;
}

}  // namespace hecate
