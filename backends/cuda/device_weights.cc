#include "backends/cuda/device_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cuda/weight_format.h"
#include "kernels/cuda_check.h"
#include "kernels/fused/fused_kernels.h"
#include "kernels/gemv_decode/bf16_weights.h"
#include "kernels/tf32_split/tf32_split.h"

namespace hecate {
namespace {

constexpr size_t kAlignBytes = 256;

// Host image of one device allocation, tensor by tensor.
template <typename T>
class HostImage {
 public:
  // Reserves `count` elements (zeroed) and returns their offset.
  size_t Reserve(size_t count) {
    constexpr size_t kAlign = kAlignBytes / sizeof(T);
    const size_t offset = data_.size();
    data_.resize((offset + count + kAlign - 1) / kAlign * kAlign, T{0});
    return offset;
  }
  size_t Append(const T* src, size_t count) {
    const size_t offset = Reserve(count);
    std::memcpy(data_.data() + offset, src, count * sizeof(T));
    return offset;
  }
  T* at(size_t offset) { return data_.data() + offset; }
  const std::vector<T>& data() const { return data_; }

 private:
  std::vector<T> data_;
};

// Copies a [rows, cols] row-major matrix into columns [col0, col0 + cols) of
// a [rows, stride] one.
void PlaceColumns(const float* src, int rows, int cols, float* dst, int stride, int col0) {
  for (int r = 0; r < rows; ++r) {
    std::memcpy(dst + size_t(r) * stride + col0, src + size_t(r) * cols, cols * sizeof(float));
  }
}

template <typename T>
absl::StatusOr<DeviceBuffer<T>> ToDevice(const std::vector<T>& host) {
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<T> buffer, DeviceBuffer<T>::Create(host.size()));
  HECATE_RETURN_IF_ERROR(buffer.CopyFromHost(absl::MakeConstSpan(host)));
  return buffer;
}

// The layers' matrices as DeviceWeights lays them out: built in fp32, then
// kept (fp32 image) or rounded (bf16 image). Offsets are into either image.
class MatrixPlacer {
 public:
  MatrixPlacer(WeightFormat format, HostImage<float>& fp32, HostImage<uint16_t>& bf16)
      : format_(format), fp32_(fp32), bf16_(bf16) {}

  // A [rows, ld] matrix filled by `fill` (given the zeroed fp32 rows).
  template <typename Fill>
  DeviceMatrix Place(int rows, int cols, int ld, Fill fill) {
    DeviceMatrix m;
    m.rows = rows;
    m.cols = cols;
    m.ld = ld;
    const size_t count = m.elements();
    if (format_ == WeightFormat::kFp32) {
      const size_t offset = fp32_.Reserve(count);
      fill(fp32_.at(offset));
      offsets_.push_back(offset);
    } else {
      scratch_.assign(count, 0.0f);
      fill(scratch_.data());
      const std::vector<uint16_t> rounded = ToBf16(scratch_);
      offsets_.push_back(bf16_.Append(rounded.data(), count));
    }
    return m;
  }
  // After the upload: points `m` (the i-th Place) into the device copies.
  void Bind(DeviceMatrix& m, size_t i, const float* fp32, const uint16_t* bf16) const {
    if (format_ == WeightFormat::kFp32) {
      m.fp32 = fp32 + offsets_[i];
    } else {
      m.bf16 = bf16 + offsets_[i];
    }
  }

 private:
  const WeightFormat format_;
  HostImage<float>& fp32_;
  HostImage<uint16_t>& bf16_;
  std::vector<float> scratch_;
  std::vector<size_t> offsets_;
};

struct LayerOffsets {
  size_t norm1, gate_bias, norm2;
};

}  // namespace

int DeviceWeights::ProjCols(const ModelConfig& c) {
  return MixerPrepProjCols(c.n_heads, c.head_dim(), c.levels());
}

absl::StatusOr<DeviceWeights> DeviceWeights::Upload(const Model& model, WeightFormat format,
                                                    bool tf32_parts) {
  const ModelConfig& c = model.config();
  const Weights& w = model.weights();
  const int dm = c.d_model, f = c.d_ff, n_gates = 3 * c.levels() * c.n_heads;
  DeviceWeights out;
  out.format_ = format;
  out.proj_cols_ = ProjCols(c);
  // bf16 rows are read 8 columns (16 bytes) at a time.
  const int pc = out.proj_cols_;
  const int proj_ld = format == WeightFormat::kBf16 ? (pc + 7) / 8 * 8 : pc;

  HostImage<float> image;
  HostImage<uint16_t> image16;
  MatrixPlacer placer(format, image, image16);
  const size_t embed = image.Append(w.embed(), size_t(c.vocab_size) * dm);
  const size_t norm_f = image.Append(w.norm_f(), dm);
  std::vector<LayerOffsets> offsets(c.n_layers);
  out.layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w.layer(l);
    LayerOffsets& o = offsets[l];
    DeviceLayerWeights& d = out.layers_[l];
    o.norm1 = image.Append(lw.norm1, dm);
    d.proj = placer.Place(dm, pc, proj_ld, [&](float* m) {
      PlaceColumns(lw.attn_wqkv, dm, 3 * dm, m, proj_ld, 0);
      PlaceColumns(lw.mem_wqkv, dm, 3 * dm, m, proj_ld, 3 * dm);
      PlaceColumns(lw.mem_wgate, dm, n_gates, m, proj_ld, 6 * dm);
    });
    o.gate_bias = image.Append(lw.mem_bgate, n_gates);
    d.wo = placer.Place(dm, dm, dm, [&](float* m) {
      std::memcpy(m, lw.wo, size_t(dm) * dm * sizeof(float));
    });
    o.norm2 = image.Append(lw.norm2, dm);
    d.w13 = placer.Place(dm, 2 * f, 2 * f, [&](float* m) {
      PlaceColumns(lw.w1, dm, f, m, 2 * f, 0);
      PlaceColumns(lw.w3, dm, f, m, 2 * f, f);
    });
    d.w2 = placer.Place(f, dm, dm, [&](float* m) {
      std::memcpy(m, lw.w2, size_t(f) * dm * sizeof(float));
    });
    for (const DeviceMatrix* m : {&d.proj, &d.wo, &d.w13, &d.w2}) {
      out.max_matrix_elements_ = std::max(out.max_matrix_elements_, m->elements());
    }
  }

  HECATE_ASSIGN_OR_RETURN(out.data_, ToDevice(image.data()));
  if (format == WeightFormat::kBf16) {
    HECATE_ASSIGN_OR_RETURN(out.bf16_, ToDevice(image16.data()));
  }

  const int half = c.head_dim() / 2;
  std::vector<double> inv_freq(std::max(half, 1));
  for (int i = 0; i < half; ++i) {
    // As backends/cpu/ops.cc Rope: pow(base, -2i/d) in float64.
    inv_freq[i] = std::pow(10000.0, -2.0 * static_cast<double>(i) / c.head_dim());
  }
  HECATE_ASSIGN_OR_RETURN(out.inv_freq_, ToDevice(inv_freq));

  const float* base = out.data_.data();
  const uint16_t* base16 = out.bf16_.data();
  out.embed_ = base + embed;
  out.norm_f_ = base + norm_f;
  size_t matrix = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerOffsets& o = offsets[l];
    DeviceLayerWeights& d = out.layers_[l];
    d.norm1 = base + o.norm1;
    d.gate_bias = base + o.gate_bias;
    d.norm2 = base + o.norm2;
    for (DeviceMatrix* m : {&d.proj, &d.wo, &d.w13, &d.w2}) placer.Bind(*m, matrix++, base, base16);
  }
  out.weight_bytes_ = WeightBytes(w, format);
  if (tf32_parts && format == WeightFormat::kFp32) {
    HECATE_RETURN_IF_ERROR(out.SplitMatrices());
  }
  return out;
}

absl::Status DeviceWeights::SplitMatrices() {
  // hi and lo of one matrix side by side, each its elements (padding
  // included, split to zeros) rounded up to the 256-byte alignment.
  constexpr size_t kAlign = kAlignBytes / sizeof(float);
  auto span = [](const DeviceMatrix& m) { return (m.elements() + kAlign - 1) / kAlign * kAlign; };
  size_t total = 0;
  for (const DeviceLayerWeights& d : layers_) {
    for (const DeviceMatrix* m : {&d.proj, &d.wo, &d.w13, &d.w2}) total += 2 * span(*m);
  }
  HECATE_ASSIGN_OR_RETURN(tf32_parts_, DeviceBuffer<float>::Create(total));
  float* at = tf32_parts_.data();
  for (DeviceLayerWeights& d : layers_) {
    for (DeviceMatrix* m : {&d.proj, &d.wo, &d.w13, &d.w2}) {
      float* hi = at;
      float* lo = at + span(*m);
      at += 2 * span(*m);
      HECATE_RETURN_IF_ERROR(Tf32SplitRows(m->fp32, m->rows, m->ld, m->ld, hi, lo, m->ld,
                                           /*stream=*/nullptr));
      m->tf32_hi = hi;
      m->tf32_lo = lo;
    }
  }
  // The engine's stream does not wait on the legacy default stream.
  return CudaStatus(cudaStreamSynchronize(nullptr), "DeviceWeights: TF32 split");
}

}  // namespace hecate
