// Gauge: a double that goes up and down (active streams, bytes in use).
//
// Promises: Set/Add/Increment/Decrement are lock-free and never lost (Add is
// a compare-exchange loop on one atomic double); Value() is the latest value.
// Any double may be set, NaN and infinities included (they are exported as
// NaN, +Inf, -Inf).
//
//   Gauge* streams = *(*registry.AddGauge("hecate_active_streams", "..."))
//                         ->WithLabels({});
//   streams->Increment();  ...  streams->Decrement();
#ifndef HECATE_SERVER_METRICS_GAUGE_H_
#define HECATE_SERVER_METRICS_GAUGE_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/metrics/striping.h"

namespace hecate::metrics {

class Gauge {
 public:
  struct Options {};
  static constexpr absl::string_view kTypeName = "gauge";
  static absl::Status ValidateOptions(const Options&) { return absl::OkStatus(); }
  static std::vector<absl::string_view> SampleSuffixes() { return {""}; }

  explicit Gauge(const Options& = {}) {}
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { AtomicAddDouble(&value_, delta); }
  void Increment() { Add(1.0); }
  void Decrement() { Add(-1.0); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

  void AppendSamples(absl::string_view name, absl::string_view labels,
                     std::string* out) const;

 private:
  std::atomic<double> value_{0.0};
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_GAUGE_H_
