#include "runtime/conductor.h"

#include <utility>

namespace hecate {

Conductor::Conductor(std::vector<int> periods) : periods_(std::move(periods)) {}

Pulse Conductor::PulseAt(uint64_t id) const {
  uint32_t active = 0;
  for (int j = 0; j < levels(); ++j) {
    if ((id + 1) % static_cast<uint64_t>(periods_[j]) == 0) active |= 1u << j;
  }
  return Pulse{id, active};
}

uint64_t Conductor::ErrorBufferPhase(int level, uint64_t id) const {
  return id % static_cast<uint64_t>(periods_[level]);
}

uint64_t Conductor::NextFire(int level, uint64_t id) const {
  const uint64_t p = static_cast<uint64_t>(periods_[level]);
  // Fires at ids p-1, 2p-1, ...: the first such id >= `id`.
  return id + (p - 1 - id % p);
}

}  // namespace hecate
