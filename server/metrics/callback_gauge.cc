#include "server/metrics/callback_gauge.h"

#include <utility>

#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"

namespace hecate::metrics {

CallbackGauge::CallbackGauge(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

bool CallbackGauge::SetCallback(std::vector<std::string> label_values,
                                std::function<double()> callback) {
  if (label_values.size() != label_names_.size()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (callback) {
    callbacks_[std::move(label_values)] = std::move(callback);
  } else {
    callbacks_.erase(label_values);
  }
  return true;
}

std::vector<prometheus::MetricFamily> CallbackGauge::Collect() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (callbacks_.empty()) return {};
  prometheus::MetricFamily family;
  family.name = name_;
  family.help = help_;
  family.type = prometheus::MetricType::Gauge;
  for (const auto& [values, callback] : callbacks_) {
    prometheus::ClientMetric metric;
    for (size_t i = 0; i < values.size(); ++i) {
      metric.label.push_back({label_names_[i], values[i]});
    }
    metric.gauge.value = callback();
    family.metric.push_back(std::move(metric));
  }
  return {std::move(family)};
}

}  // namespace hecate::metrics
