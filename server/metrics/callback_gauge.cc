#include "server/metrics/callback_gauge.h"

#include <utility>

#include "server/metrics/text_format.h"

namespace hecate::metrics {

void CallbackGauge::SetCallback(std::function<double()> callback) {
  std::function<double()> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::exchange(callback_, std::move(callback));
  }
  // `old` (and what it captured) is destroyed outside the lock.
}

std::optional<double> CallbackGauge::Value() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!callback_) return std::nullopt;
  return callback_();
}

void CallbackGauge::AppendSamples(absl::string_view name,
                                  absl::string_view labels,
                                  std::string* out) const {
  const std::optional<double> value = Value();
  if (value.has_value()) AppendSampleLine(name, "", labels, "", *value, out);
}

}  // namespace hecate::metrics
