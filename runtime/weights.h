// Weights: a HecateLM model's float32 tensors (docs/MODEL.md section 5).
//
// Loaded from model.safetensors, made from a seed (random init following
// MODEL.md's gate-bias rule), or written back to a safetensors file. Every
// tensor is checked against the config: name, dtype F32, shape, and that its
// bytes lie inside the file. Tensors are stored in one contiguous buffer, in
// canonical order (TensorNames), so the fingerprint and device uploads see
// one layout.
#ifndef HECATE_RUNTIME_WEIGHTS_H_
#define HECATE_RUNTIME_WEIGHTS_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/model_config.h"

namespace hecate {

struct WeightSpec {
  std::string name;            // e.g. "layers.0.attn.wqkv"
  std::vector<int64_t> shape;  // row-major, x @ W convention
  size_t offset = 0;           // in floats, into Weights::data()
  size_t size = 0;             // in floats
};

// Pointers into Weights' buffer for one layer.
struct LayerWeights {
  const float* norm1;     // [D]
  const float* attn_wqkv; // [D, 3D]
  const float* mem_wqkv;  // [D, 3D]
  const float* mem_wgate; // [D, 3*levels*H], index (gate*levels + j)*H + h
  const float* mem_bgate; // [3*levels*H]
  const float* wo;        // [D, D]
  const float* norm2;     // [D]
  const float* w1;        // [D, F]
  const float* w3;        // [D, F]
  const float* w2;        // [F, D]
};

class Weights {
 public:
  // The tensors a config needs, in canonical order, with offsets.
  static std::vector<WeightSpec> Specs(const ModelConfig& config);

  // Parses safetensors bytes. `source` names the file in error messages.
  static absl::StatusOr<Weights> FromSafetensors(const ModelConfig& config,
                                                 absl::string_view bytes,
                                                 absl::string_view source);
  // Normal(0, 0.02) weights, ones for norms, MODEL.md's gate biases
  // (alpha 3.0, theta -4.6, eta 2.2). Deterministic for a seed.
  static Weights Random(const ModelConfig& config, uint64_t seed);

  // A safetensors file holding every tensor (F32, canonical order).
  std::string ToSafetensors() const;
  // An independent copy (copies are explicit: weights can be gigabytes).
  Weights Clone() const;

  const ModelConfig& config() const { return config_; }
  const std::vector<WeightSpec>& specs() const { return specs_; }
  absl::Span<const float> data() const { return absl::MakeConstSpan(data_); }
  absl::Span<float> mutable_data() { return absl::MakeSpan(data_); }

  const float* embed() const { return embed_; }    // [V, D]
  const float* norm_f() const { return norm_f_; }  // [D]
  const LayerWeights& layer(int l) const { return layers_[l]; }
  // The named tensor, or nullptr.
  const float* Find(absl::string_view name) const;

  Weights(Weights&&) noexcept;
  Weights& operator=(Weights&&) noexcept;
  Weights(const Weights&) = delete;
  Weights& operator=(const Weights&) = delete;

 private:
  explicit Weights(const ModelConfig& config);
  void BindPointers();

  ModelConfig config_;
  std::vector<WeightSpec> specs_;
  std::vector<float> data_;
  const float* embed_ = nullptr;
  const float* norm_f_ = nullptr;
  std::vector<LayerWeights> layers_;
};

}  // namespace hecate

#endif  // HECATE_RUNTIME_WEIGHTS_H_
