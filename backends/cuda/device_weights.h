// DeviceWeights: a Model's weights on the device, uploaded once, laid out
// for the CUDA forward pass.
//
// Per layer the three input projections are fused into one [D, P] matrix
// (attn.wqkv | mem.wqkv | mem.wgate, zero-padded so P is a multiple of 4)
// and W1 | W3 into one [D, 2F] matrix, so each takes one GEMM. Every tensor
// starts 256-byte aligned. The RoPE inverse frequencies 10000^(-2i/d) are
// computed on the host in float64 exactly as the CPU reference does.
//
// WeightFormat::kBf16 stores the layers' matrices (fused projection, Wo,
// W1|W3, W2: weight_format.h's IsBf16Matrix) as bf16, rounded on the host to
// nearest even, in an allocation of their own, the fused projection's rows
// padded to a multiple of 8 columns (the bf16 GEMV's 16-byte rows); the
// embedding (also the logits matrix), norms and gate biases stay fp32.
//
// With `tf32_parts` (the 3xtf32 GEMM mode, fp32 weights only) every layer
// matrix also keeps its TF32 split, W = W_hi + W_lo (kernels/tf32_split),
// made on the device at load in an allocation of its own: twice the
// matrices' bytes more (tf32_parts_bytes()). The fp32 matrix stays: the
// decode GEMVs read it. bf16 matrices need none: widened, they are TF32
// already (8 significant bits).
#ifndef HECATE_BACKENDS_CUDA_DEVICE_WEIGHTS_H_
#define HECATE_BACKENDS_CUDA_DEVICE_WEIGHTS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/device_buffer.h"
#include "runtime/backend.h"
#include "runtime/model.h"

namespace hecate {

// One weight matrix [rows, cols] row-major (x @ W), rows `ld` elements
// apart, in exactly one of the formats: fp32 or bf16 bit patterns; an fp32
// one may carry its TF32 split too (tf32_hi + tf32_lo, same layout).
struct DeviceMatrix {
  const float* fp32 = nullptr;
  const uint16_t* bf16 = nullptr;
  const float* tf32_hi = nullptr;
  const float* tf32_lo = nullptr;
  int rows = 0;
  int cols = 0;
  int ld = 0;
  size_t elements() const { return size_t(rows) * ld; }
};

struct DeviceLayerWeights {
  const float* norm1 = nullptr;      // [D]
  DeviceMatrix proj;                 // [D, proj_cols]
  const float* gate_bias = nullptr;  // [3 * levels * H]
  DeviceMatrix wo;                   // [D, D]
  const float* norm2 = nullptr;      // [D]
  DeviceMatrix w13;                  // [D, 2F]
  DeviceMatrix w2;                   // [F, D]
};

class DeviceWeights {
 public:
  // Copies `model`'s weights to the current device in `format`; with
  // `tf32_parts` and fp32 weights, adds each layer matrix's TF32 split.
  static absl::StatusOr<DeviceWeights> Upload(const Model& model,
                                              WeightFormat format = WeightFormat::kFp32,
                                              bool tf32_parts = false);

  // Columns of the fused projection: 6D + 3 * levels * H, rounded up to 4.
  static int ProjCols(const ModelConfig& config);

  WeightFormat format() const { return format_; }
  int proj_cols() const { return proj_cols_; }
  const float* embed() const { return embed_; }    // [V, D]
  const float* norm_f() const { return norm_f_; }  // [D]
  const double* inv_freq() const { return inv_freq_.data(); }  // [d / 2]
  const DeviceLayerWeights& layer(int l) const { return layers_[l]; }
  // Bytes of weight data a forward step reads (padding excluded; 2 a value
  // for bf16 matrices).
  size_t weight_bytes() const { return weight_bytes_; }
  // Elements of the largest layer matrix, padding included: what a widened
  // fp32 copy of any one of them needs.
  size_t max_matrix_elements() const { return max_matrix_elements_; }
  // Device bytes of the matrices' TF32 splits (0 without them).
  size_t tf32_parts_bytes() const { return tf32_parts_.bytes(); }

 private:
  // Makes tf32_parts_ and points each layer matrix's tf32_hi/lo into it.
  absl::Status SplitMatrices();

  WeightFormat format_ = WeightFormat::kFp32;
  DeviceBuffer<float> data_;
  DeviceBuffer<uint16_t> bf16_;
  DeviceBuffer<float> tf32_parts_;  // per matrix: hi, then lo
  DeviceBuffer<double> inv_freq_;
  int proj_cols_ = 0;
  const float* embed_ = nullptr;
  const float* norm_f_ = nullptr;
  std::vector<DeviceLayerWeights> layers_;
  size_t weight_bytes_ = 0;
  size_t max_matrix_elements_ = 0;
};

}  // namespace hecate

#endif  // HECATE_BACKENDS_CUDA_DEVICE_WEIGHTS_H_
