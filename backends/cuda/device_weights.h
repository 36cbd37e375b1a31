// DeviceWeights: a Model's weights on the device, uploaded once, laid out
// for the CUDA forward pass.
//
// Per layer the three input projections are fused into one [D, P] matrix
// (attn.wqkv | mem.wqkv | mem.wgate, zero-padded so P is a multiple of 4)
// and W1 | W3 into one [D, 2F] matrix, so each takes one GEMM. Everything
// lives in one allocation; every tensor starts 256-byte aligned. The RoPE
// inverse frequencies 10000^(-2i/d) are computed on the host in float64
// exactly as the CPU reference does.
#ifndef HECATE_BACKENDS_CUDA_DEVICE_WEIGHTS_H_
#define HECATE_BACKENDS_CUDA_DEVICE_WEIGHTS_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/device_buffer.h"
#include "runtime/model.h"

namespace hecate {

struct DeviceLayerWeights {
  const float* norm1 = nullptr;      // [D]
  const float* proj = nullptr;       // [D, proj_cols]
  const float* gate_bias = nullptr;  // [3 * levels * H]
  const float* wo = nullptr;         // [D, D]
  const float* norm2 = nullptr;      // [D]
  const float* w13 = nullptr;        // [D, 2F]
  const float* w2 = nullptr;         // [F, D]
};

class DeviceWeights {
 public:
  // Copies `model`'s weights to the current device.
  static absl::StatusOr<DeviceWeights> Upload(const Model& model);

  // Columns of the fused projection: 6D + 3 * levels * H, rounded up to 4.
  static int ProjCols(const ModelConfig& config);

  int proj_cols() const { return proj_cols_; }
  const float* embed() const { return embed_; }    // [V, D]
  const float* norm_f() const { return norm_f_; }  // [D]
  const double* inv_freq() const { return inv_freq_.data(); }  // [d / 2]
  const DeviceLayerWeights& layer(int l) const { return layers_[l]; }
  // Bytes of weight data a forward step reads (padding excluded).
  size_t weight_bytes() const { return weight_bytes_; }

 private:
  DeviceBuffer<float> data_;
  DeviceBuffer<double> inv_freq_;
  int proj_cols_ = 0;
  const float* embed_ = nullptr;
  const float* norm_f_ = nullptr;
  std::vector<DeviceLayerWeights> layers_;
  size_t weight_bytes_ = 0;
};

}  // namespace hecate

#endif  // HECATE_BACKENDS_CUDA_DEVICE_WEIGHTS_H_
