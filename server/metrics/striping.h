// Internal building blocks for low-contention metric updates.
//
// Promises: ThisThreadStripe() is a stable small index per thread, spread
// round-robin over kStripes, so threads that observe the same metric mostly
// write to different cache lines; AtomicAddDouble adds to an atomic double
// without a lock. Readers sum the stripes; a sum taken while writers run
// includes each completed update exactly once (updates are never lost).
#ifndef HECATE_SERVER_METRICS_STRIPING_H_
#define HECATE_SERVER_METRICS_STRIPING_H_

#include <atomic>
#include <cstddef>

namespace hecate::metrics {

// Eight stripes cover the cores that realistically update one metric at once;
// each costs one cache line per counter.
inline constexpr size_t kStripes = 8;
inline constexpr size_t kCacheLineBytes = 64;

// Index in [0, kStripes) of the calling thread, fixed for its lifetime.
size_t ThisThreadStripe();

// *target += delta, lock-free (compare-exchange loop; C++17 has no
// fetch_add for floating-point atomics).
inline void AtomicAddDouble(std::atomic<double>* target, double delta) {
  double expected = target->load(std::memory_order_relaxed);
  while (!target->compare_exchange_weak(expected, expected + delta,
                                        std::memory_order_relaxed,
                                        std::memory_order_relaxed)) {
  }
}

// One double on its own cache line.
struct alignas(kCacheLineBytes) PaddedAtomicDouble {
  std::atomic<double> value{0.0};
};

// A double sum split over kStripes cache lines: Add() touches only the
// calling thread's line.
class StripedDouble {
 public:
  void Add(double delta) { AtomicAddDouble(&cells_[ThisThreadStripe()].value, delta); }
  double Sum() const {
    double total = 0.0;
    for (const PaddedAtomicDouble& cell : cells_) {
      total += cell.value.load(std::memory_order_relaxed);
    }
    return total;
  }

 private:
  PaddedAtomicDouble cells_[kStripes];
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_STRIPING_H_
