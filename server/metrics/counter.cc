#include "server/metrics/counter.h"

#include <cmath>

#include "server/metrics/text_format.h"

namespace hecate::metrics {

void Counter::Increment(double delta) {
  // Written so that NaN fails the test too.
  if (!(delta >= 0.0) || std::isinf(delta)) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  total_.Add(delta);
}

void Counter::AppendSamples(absl::string_view name, absl::string_view labels,
                            std::string* out) const {
  AppendSampleLine(name, "", labels, "", Value(), out);
}

}  // namespace hecate::metrics
