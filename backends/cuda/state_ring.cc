#include "backends/cuda/state_ring.h"

#include <cstdlib>

#include "kernels/cms_slow/cms_slow.h"
#include "kernels/cuda_check.h"
#include "runtime/model_state.h"

namespace hecate {

int StateRing::Slots() {
  static const int slots = [] {
    const char* dense = std::getenv("HECATE_DECODE_DENSE_G");
    return dense != nullptr && std::atoi(dense) != 0 ? 0 : 16;
  }();
  return slots;
}

StateRing::StateRing(const ModelConfig& config, int slots)
    : layers_(config.n_layers), heads_(config.n_heads), dim_(config.head_dim()) {
  const StateLayout layout(config);
  state_bytes_ = layout.total_bytes();
  for (int j = 0; j < config.levels(); ++j) {
    if (config.periods[j] <= 1) continue;
    periods_.push_back(config.periods[j]);
    g_offset_.push_back(layout.tensors()[layout.Find(0, StateKind::kErrorBuffer, j)].offset);
  }
  if (slots <= 0 || periods_.empty() || periods_.size() > size_t(kCmsMaxLevels)) return;
  slots_ = slots;
  // Layers are laid out alike, one after another (runtime/model_state.h).
  state_layer_stride_ = layout.total_floats() / config.n_layers;
  origin_offset_ = (layout.total_floats() + 3) / 4 * 4;
  ring_offset_ = origin_offset_ + 4;
  const size_t per_level = size_t(heads_) * slots_ * dim_;
  ring_layer_stride_ = per_level * (1 + periods_.size());
  state_bytes_ = (ring_offset_ + ring_layer_stride_ * layers_) * sizeof(float);
}

CmsRingParams StateRing::Layer(int layer) const {
  CmsRingParams ring;
  if (!enabled()) return ring;
  ring.slots = slots_;
  ring.origin_offset = origin_offset_;
  ring.k_offset = ring_offset_ + layer * ring_layer_stride_;
  const size_t per_level = size_t(heads_) * slots_ * dim_;
  for (size_t i = 0; i < periods_.size(); ++i) {
    ring.e_offset[i] = ring.k_offset + (1 + i) * per_level;
  }
  return ring;
}

CmsRingFoldParams StateRing::FoldParams() const {
  CmsRingFoldParams p;
  p.layers = layers_;
  p.heads = heads_;
  p.dim = dim_;
  p.count = static_cast<int>(periods_.size());
  for (int i = 0; i < p.count; ++i) {
    p.period[i] = periods_[i];
    p.g_offset[i] = g_offset_[i];
  }
  p.state_layer_stride = state_layer_stride_;
  p.ring = Layer(0);
  p.ring_layer_stride = ring_layer_stride_;
  return p;
}

absl::Status StateRing::FoldAll(float* const* device_states, const uint64_t* device_pulse,
                                int batch, uint64_t advance, cudaStream_t stream) const {
  if (!enabled()) return absl::OkStatus();
  CmsRingFoldParams p = FoldParams();
  p.batch = batch;
  p.states = device_states;
  p.pulse = device_pulse;
  p.advance = advance;
  return CmsRingFold(p, stream);
}

absl::Status StateRing::Fold(float* state, uint64_t pulse, cudaStream_t stream) const {
  if (!enabled()) return absl::OkStatus();
  CmsRingFoldParams p = FoldParams();
  p.batch = 1;
  p.one_state = state;
  p.one_pulse = pulse;
  return CmsRingFold(p, stream);
}

absl::Status StateRing::Reset(float* state, uint64_t pulse, cudaStream_t stream) const {
  if (!enabled()) return absl::OkStatus();
  // From pageable memory: the copy is staged before cudaMemcpyAsync returns.
  HECATE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(state + origin_offset_, &pulse, sizeof(pulse),
                                              cudaMemcpyHostToDevice, stream));
  return absl::OkStatus();
}

}  // namespace hecate
