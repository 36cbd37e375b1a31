// Conductor: pulse ids and which CMS levels fire (docs/MODEL.md section 4).
//
// The pulse id of a token is the number of tokens its session processed
// before it. Level j is active (fires) at pulse id p when (p + 1) % p_j == 0.
// At pulse id p, level j's error buffer holds exactly p % p_j tokens of
// gradient: the invariant checkpoints are verified against.
//
// There is one conductor; every backend and the session layer use it.
#ifndef HECATE_RUNTIME_CONDUCTOR_H_
#define HECATE_RUNTIME_CONDUCTOR_H_

#include <cstdint>
#include <vector>

namespace hecate {

struct Pulse {
  uint64_t id;
  uint32_t active_levels;  // bit j set when level j fires at this pulse
  bool fires(int level) const { return (active_levels >> level) & 1u; }
};

class Conductor {
 public:
  explicit Conductor(std::vector<int> periods);

  int levels() const { return static_cast<int>(periods_.size()); }
  int period(int level) const { return periods_[level]; }

  // The pulse for the token at pulse id `id`.
  Pulse PulseAt(uint64_t id) const;

  // Tokens of gradient level j's error buffer holds at pulse id `id`
  // (before that token): id % p_j.
  uint64_t ErrorBufferPhase(int level, uint64_t id) const;

  // The first pulse id >= `id` at which `level` fires.
  uint64_t NextFire(int level, uint64_t id) const;

 private:
  std::vector<int> periods_;
};

}  // namespace hecate

#endif  // HECATE_RUNTIME_CONDUCTOR_H_
