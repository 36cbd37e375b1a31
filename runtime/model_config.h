// ModelConfig: the sizes of a HecateLM model (docs/MODEL.md section 1).
//
// A config is parsed from a model folder's config.json, or taken from a named
// preset ("tiny", "base"). Every accessor of a validated config is consistent:
// d_model == n_heads * head_dim, periods strictly increase and each divides
// the next. Nothing about a model's size is hard-coded anywhere else.
//
//   absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(text);
//   absl::StatusOr<ModelConfig> t = ModelConfig::Preset("tiny");
#ifndef HECATE_RUNTIME_MODEL_CONFIG_H_
#define HECATE_RUNTIME_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hecate {

struct ModelConfig {
  int vocab_size = 256;  // V: tokens are bytes
  int d_model = 0;       // D
  int n_layers = 0;      // L
  int n_heads = 0;       // H (attention and memory)
  int window = 0;        // W: sliding-window attention span
  std::vector<int> periods;  // CMS level periods p_1 < p_2 < ..., p_j | p_{j+1}
  int d_ff = 0;          // F: SwiGLU hidden width

  int head_dim() const { return n_heads > 0 ? d_model / n_heads : 0; }
  int levels() const { return static_cast<int>(periods.size()); }
  // c in m = c * sum_j y_j: 1/sqrt(levels) if levels > 2, else 1.
  float memory_scale() const;

  // Checks every invariant; the message names the offending field.
  absl::Status Validate() const;

  // Parses config.json text: {"model_type": "hecate", "vocab_size": 256,
  // "d_model": .., "n_layers": .., "n_heads": .., "window": ..,
  // "periods": [..], "d_ff": ..}. Unknown keys are ignored; missing keys,
  // wrong types and an unknown model_type are errors. The result is validated.
  static absl::StatusOr<ModelConfig> FromJson(absl::string_view json_text);
  // The canonical config.json text of this config.
  std::string ToJson() const;

  // "tiny" (embedded CPU default) or "base" (GPU benchmark), as in MODEL.md.
  static absl::StatusOr<ModelConfig> Preset(absl::string_view name);

  // "D=256 L=4 H=4 W=128 P=(1,8) F=704", for logs.
  std::string Summary() const;

  bool operator==(const ModelConfig& other) const;
  bool operator!=(const ModelConfig& other) const { return !(*this == other); }
};

}  // namespace hecate

#endif  // HECATE_RUNTIME_MODEL_CONFIG_H_
