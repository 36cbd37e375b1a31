// ModelState: a session's canonical state (docs/MODEL.md section 3), float32.
//
// One contiguous float buffer plus the conductor's pulse id. The layout
// (StateLayout) is the single description of where every state tensor lives;
// the CPU backend, the CUDA backend and the checkpoint format all use it.
//
// Per layer l, in this order, each tensor row-major:
//   for each level j:   layers.{l}.level{j}.M   [H, d, d]  memory, "value x key"
//                       layers.{l}.level{j}.S   [H, d, d]  momentum (stays 0 when p_j == 1)
//                       layers.{l}.level{j}.G   [H, d, d]  error buffer, only when p_j > 1
//   then                layers.{l}.attn.k       [H, W, d]  window keys after RoPE
//                       layers.{l}.attn.v       [H, W, d]  window values
// Window position p lives in ring slot p % W. Initial state: all zeros,
// pulse id 0.
#ifndef HECATE_RUNTIME_MODEL_STATE_H_
#define HECATE_RUNTIME_MODEL_STATE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "runtime/model_config.h"

namespace hecate {

enum class StateKind : uint8_t {
  kMemory = 0,      // M
  kMomentum = 1,    // S
  kErrorBuffer = 2, // G
  kWindowKeys = 3,
  kWindowValues = 4,
};

struct StateTensor {
  std::string name;            // e.g. "layers.0.level1.G"
  StateKind kind;
  int layer;
  int level;                   // -1 for window tensors
  std::vector<int64_t> shape;  // [H, d, d] or [H, W, d]
  size_t offset;               // in floats, from the start of the buffer
  size_t size;                 // in floats
};

class StateLayout {
 public:
  explicit StateLayout(const ModelConfig& config);

  const std::vector<StateTensor>& tensors() const { return tensors_; }
  size_t total_floats() const { return total_floats_; }
  size_t total_bytes() const { return total_floats_ * sizeof(float); }

  // Index into tensors() of a layer's tensor; level is ignored for window
  // tensors. -1 when absent (G of a level with period 1).
  int Find(int layer, StateKind kind, int level) const;

 private:
  std::vector<StateTensor> tensors_;
  std::vector<int> index_;  // [layer][kind][level] -> tensor index or -1
  int levels_ = 0;
  size_t total_floats_ = 0;
};

class ModelState {
 public:
  explicit ModelState(const ModelConfig& config);  // zero state, pulse 0

  const ModelConfig& config() const { return config_; }
  const StateLayout& layout() const { return layout_; }

  uint64_t pulse_id() const { return pulse_id_; }
  void set_pulse_id(uint64_t id) { pulse_id_ = id; }

  absl::Span<float> data() { return absl::MakeSpan(data_); }
  absl::Span<const float> data() const { return absl::MakeConstSpan(data_); }
  // nullptr when the layout has no such tensor (G of a period-1 level).
  float* tensor(int layer, StateKind kind, int level) {
    int i = layout_.Find(layer, kind, level);
    return i < 0 ? nullptr : data_.data() + layout_.tensors()[i].offset;
  }
  const float* tensor(int layer, StateKind kind, int level) const {
    int i = layout_.Find(layer, kind, level);
    return i < 0 ? nullptr : data_.data() + layout_.tensors()[i].offset;
  }
  absl::Span<float> tensor(const StateTensor& t) {
    return absl::MakeSpan(data_.data() + t.offset, t.size);
  }
  absl::Span<const float> tensor(const StateTensor& t) const {
    return absl::MakeConstSpan(data_.data() + t.offset, t.size);
  }

  void Reset();  // zeros, pulse 0

  // Bitwise equality of pulse id and every float.
  bool BitwiseEquals(const ModelState& other) const;

 private:
  ModelConfig config_;
  StateLayout layout_;
  uint64_t pulse_id_ = 0;
  std::vector<float> data_;
};

}  // namespace hecate

#endif  // HECATE_RUNTIME_MODEL_STATE_H_
