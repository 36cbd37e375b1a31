// Model: a loaded HecateLM (config + weights + fingerprint), immutable.
//
//   absl::StatusOr<std::shared_ptr<const Model>> m = LoadModel("random:tiny", 1);
//   absl::StatusOr<std::shared_ptr<const Model>> m = LoadModel("/models/tiny", 0);
//
// The fingerprint is SHA-256 over the canonical config.json text and the
// weight bytes (little-endian float32, canonical tensor order), as 64 hex
// characters. Checkpoints carry it; restore refuses another model's state.
#ifndef HECATE_RUNTIME_MODEL_H_
#define HECATE_RUNTIME_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/model_config.h"
#include "runtime/weights.h"

namespace hecate {

class Model {
 public:
  Model(ModelConfig config, Weights weights);

  const ModelConfig& config() const { return config_; }
  const Weights& weights() const { return weights_; }
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  ModelConfig config_;
  Weights weights_;
  std::string fingerprint_;
};

// Reads config.json and model.safetensors from `dir`. Errors name the file
// (and tensor) at fault; weights that are not finite are rejected.
absl::StatusOr<std::shared_ptr<const Model>> LoadModelDir(absl::string_view dir);

// Writes config.json and model.safetensors into `dir` (created if missing).
absl::Status WriteModelDir(const Model& model, absl::string_view dir);

// `spec` is a folder, or "random:PRESET" (a freshly initialised model from
// `seed`). "random:tiny" is the embedded default.
absl::StatusOr<std::shared_ptr<const Model>> LoadModel(absl::string_view spec,
                                                       uint64_t seed);

}  // namespace hecate

#endif  // HECATE_RUNTIME_MODEL_H_
