#include "runtime/model_state.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hecate {
namespace {
constexpr int kKinds = 5;
}  // namespace

StateLayout::StateLayout(const ModelConfig& config) : levels_(config.levels()) {
  const int64_t h = config.n_heads, d = config.head_dim(), w = config.window;
  const int slots_per_layer = kKinds * std::max(levels_, 1);
  index_.assign(static_cast<size_t>(config.n_layers) * slots_per_layer, -1);
  auto add = [&](int layer, StateKind kind, int level, std::string name,
                 std::vector<int64_t> shape) {
    size_t size = 1;
    for (int64_t s : shape) size *= static_cast<size_t>(s);
    int slot = layer * slots_per_layer + static_cast<int>(kind) * std::max(levels_, 1) +
               std::max(level, 0);
    index_[slot] = static_cast<int>(tensors_.size());
    tensors_.push_back(StateTensor{std::move(name), kind, layer, level, std::move(shape),
                                   total_floats_, size});
    total_floats_ += size;
  };
  for (int l = 0; l < config.n_layers; ++l) {
    for (int j = 0; j < levels_; ++j) {
      const std::string prefix = absl::StrCat("layers.", l, ".level", j, ".");
      add(l, StateKind::kMemory, j, prefix + "M", {h, d, d});
      add(l, StateKind::kMomentum, j, prefix + "S", {h, d, d});
      if (config.periods[j] > 1) add(l, StateKind::kErrorBuffer, j, prefix + "G", {h, d, d});
    }
    add(l, StateKind::kWindowKeys, -1, absl::StrCat("layers.", l, ".attn.k"), {h, w, d});
    add(l, StateKind::kWindowValues, -1, absl::StrCat("layers.", l, ".attn.v"), {h, w, d});
  }
}

int StateLayout::Find(int layer, StateKind kind, int level) const {
  const int per_kind = std::max(levels_, 1);
  if (kind == StateKind::kWindowKeys || kind == StateKind::kWindowValues) level = 0;
  if (layer < 0 || level < 0 || level >= per_kind) return -1;
  size_t slot = static_cast<size_t>(layer) * kKinds * per_kind +
                static_cast<size_t>(kind) * per_kind + level;
  return slot < index_.size() ? index_[slot] : -1;
}

ModelState::ModelState(const ModelConfig& config)
    : config_(config), layout_(config), data_(layout_.total_floats(), 0.0f) {}

void ModelState::Reset() {
  std::fill(data_.begin(), data_.end(), 0.0f);
  pulse_id_ = 0;
}

bool ModelState::BitwiseEquals(const ModelState& other) const {
  return pulse_id_ == other.pulse_id_ && data_.size() == other.data_.size() &&
         std::memcmp(data_.data(), other.data_.data(), data_.size() * sizeof(float)) == 0;
}

}  // namespace hecate
