#include "server/metrics/striping.h"

namespace hecate::metrics {

size_t ThisThreadStripe() {
  static std::atomic<size_t> next_thread{0};
  thread_local const size_t stripe =
      next_thread.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return stripe;
}

}  // namespace hecate::metrics
