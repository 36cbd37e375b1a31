// CallbackGauge: a gauge family whose values are computed at scrape time by
// callbacks (sessions per residency tier, state bytes per tier): the owner of
// the numbers is asked only when someone looks, and nothing is kept in sync.
// A prometheus::Collectable of its own, served next to the prometheus-cpp
// Registry (prometheus-cpp 1.0 has no callback gauge).
//
// Promises: callbacks run only inside Collect() (a scrape), never on the
// caller's thread otherwise; a child without a callback writes no sample, and
// a family without any writes nothing; children are collected sorted by
// label values. A child is named by one value per label name, in order;
// SetCallback with another number of values does nothing and returns false. After ClearCallback(labels) (or SetCallback with a new one)
// returns, the old callback is not running and never runs again, so the
// object it captured may then be destroyed. Callbacks must be thread-safe and
// must not call back into this gauge (they run under its lock).
//
//   CallbackGauge sessions("hecate_sessions", "Live sessions per tier.", {"tier"});
//   sessions.SetCallback({"disk"}, [store] { return store->CountOnDisk(); });
//   ...  sessions.ClearCallback({"disk"});   // before `store` goes away
#ifndef HECATE_SERVER_METRICS_CALLBACK_GAUGE_H_
#define HECATE_SERVER_METRICS_CALLBACK_GAUGE_H_

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace hecate::metrics {

class CallbackGauge : public prometheus::Collectable {
 public:
  CallbackGauge(std::string name, std::string help, std::vector<std::string> label_names);
  CallbackGauge(const CallbackGauge&) = delete;
  CallbackGauge& operator=(const CallbackGauge&) = delete;

  // An empty std::function is the same as ClearCallback(label_values).
  bool SetCallback(std::vector<std::string> label_values, std::function<double()> callback);
  bool ClearCallback(std::vector<std::string> label_values) {
    return SetCallback(std::move(label_values), nullptr);
  }

  const std::vector<std::string>& label_names() const { return label_names_; }

  // One gauge family with a sample per callback; empty without callbacks.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  // std::mutex, not absl::Mutex: Debian's absl is not built with TSan.
  mutable std::mutex mu_;
  // Label values -> callback.
  std::map<std::vector<std::string>, std::function<double()>> callbacks_;  // guarded by mu_
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_CALLBACK_GAUGE_H_
