// CallbackGauge: a gauge whose value is computed at scrape time by a callback
// (sessions per residency tier, state bytes per tier): the owner of the
// numbers is asked only when someone looks, and nothing is kept in sync.
//
// Promises: the callback runs only inside a scrape (Value()/AppendSamples),
// never on the caller's thread otherwise; a child without a callback writes no
// sample; after ClearCallback() (or SetCallback with a new one) returns, the
// old callback is not running and never runs again, so the object it
// captured may then be destroyed. The callback must be thread-safe and must not
// call back into this gauge or its registry (it runs under this gauge's lock).
//
//   CallbackGauge* on_disk = *sessions_family->WithLabels({"disk"});
//   on_disk->SetCallback([store] { return store->CountIn(Residency::kDisk); });
//   ...  on_disk->ClearCallback();   // before `store` goes away
#ifndef HECATE_SERVER_METRICS_CALLBACK_GAUGE_H_
#define HECATE_SERVER_METRICS_CALLBACK_GAUGE_H_

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hecate::metrics {

class CallbackGauge {
 public:
  struct Options {};
  static constexpr absl::string_view kTypeName = "gauge";
  static absl::Status ValidateOptions(const Options&) { return absl::OkStatus(); }
  static std::vector<absl::string_view> SampleSuffixes() { return {""}; }

  explicit CallbackGauge(const Options& = {}) {}
  CallbackGauge(const CallbackGauge&) = delete;
  CallbackGauge& operator=(const CallbackGauge&) = delete;

  // An empty std::function is the same as ClearCallback().
  void SetCallback(std::function<double()> callback);
  void ClearCallback() { SetCallback(nullptr); }

  // The callback's value now, or nullopt when no callback is set.
  std::optional<double> Value() const;

  void AppendSamples(absl::string_view name, absl::string_view labels,
                     std::string* out) const;

 private:
  mutable std::mutex mu_;
  std::function<double()> callback_;  // guarded by mu_
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_CALLBACK_GAUGE_H_
