// MetricRegistry: owns metric families and renders them in the Prometheus
// text exposition format 0.0.4 (what /metrics serves).
//
// Promises: a family is registered only with a valid name
// ([a-zA-Z_:][a-zA-Z0-9_:]*), valid and distinct label names (no "le",
// "quantile" or "__" prefix), UTF-8 help text, valid options, and no clash
// with any name already exposed (a histogram "x" also takes x_bucket, x_sum and
// x_count); anything else is InvalidArgument or AlreadyExists and registers
// nothing. Families live as long as the registry, so the Family* it hands out
// (and the children they hand out) stay valid. Expose() writes each family
// with samples once, sorted by name: "# HELP" (escaped), "# TYPE", then the
// samples; a family without samples yet (labelled, no child created) is left
// out. A family without labels has its single child created at registration,
// so it is exported (as 0) before its first use. All methods are thread-safe;
// Expose() never blocks observers.
//
//   MetricRegistry registry;
//   absl::StatusOr<Family<Counter>*> tokens = registry.AddCounter(
//       "hecate_tokens_total", "Tokens processed.", {"direction"});
//   ...
//   std::string body = registry.Expose();   // Content-Type: kTextContentType
#ifndef HECATE_SERVER_METRICS_REGISTRY_H_
#define HECATE_SERVER_METRICS_REGISTRY_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/metrics/callback_gauge.h"
#include "server/metrics/counter.h"
#include "server/metrics/family.h"
#include "server/metrics/gauge.h"
#include "server/metrics/histogram.h"
#include "server/metrics/sliding_window_summary.h"
#include "server/metrics/text_format.h"

namespace hecate::metrics {

class MetricRegistry {
 public:
  MetricRegistry() = default;
  MetricRegistry(const MetricRegistry&) = delete;
  MetricRegistry& operator=(const MetricRegistry&) = delete;

  template <typename T>
  absl::StatusOr<Family<T>*> Add(absl::string_view name, absl::string_view help,
                                 std::vector<std::string> label_names,
                                 typename T::Options options = {});

  absl::StatusOr<Family<Counter>*> AddCounter(
      absl::string_view name, absl::string_view help,
      std::vector<std::string> label_names = {}) {
    return Add<Counter>(name, help, std::move(label_names));
  }
  absl::StatusOr<Family<Gauge>*> AddGauge(
      absl::string_view name, absl::string_view help,
      std::vector<std::string> label_names = {}) {
    return Add<Gauge>(name, help, std::move(label_names));
  }
  absl::StatusOr<Family<CallbackGauge>*> AddCallbackGauge(
      absl::string_view name, absl::string_view help,
      std::vector<std::string> label_names = {}) {
    return Add<CallbackGauge>(name, help, std::move(label_names));
  }
  absl::StatusOr<Family<Histogram>*> AddHistogram(
      absl::string_view name, absl::string_view help,
      std::vector<std::string> label_names, Histogram::Options options) {
    return Add<Histogram>(name, help, std::move(label_names),
                          std::move(options));
  }
  absl::StatusOr<Family<SlidingWindowSummary>*> AddSummary(
      absl::string_view name, absl::string_view help,
      std::vector<std::string> label_names,
      SlidingWindowSummary::Options options = {}) {
    return Add<SlidingWindowSummary>(name, help, std::move(label_names),
                                     std::move(options));
  }

  // The text exposition of every family, in format 0.0.4.
  std::string Expose() const;

 private:
  // Name, help and label checks shared by every metric type.
  static absl::Status ValidateFamily(absl::string_view name,
                                     absl::string_view help,
                                     const std::vector<std::string>& label_names);
  // Takes ownership; AlreadyExists when any of `name`+suffix is taken.
  absl::Status Insert(std::unique_ptr<FamilyBase> family,
                      const std::vector<absl::string_view>& suffixes);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_;  // guarded by mu_
  absl::flat_hash_set<std::string> taken_names_;  // guarded by mu_
};

template <typename T>
absl::StatusOr<Family<T>*> MetricRegistry::Add(
    absl::string_view name, absl::string_view help,
    std::vector<std::string> label_names, typename T::Options options) {
  if (absl::Status status = ValidateFamily(name, help, label_names);
      !status.ok()) {
    return status;
  }
  if (absl::Status status = T::ValidateOptions(options); !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric ", name, ": ", status.message()));
  }
  const bool unlabelled = label_names.empty();
  auto family = std::make_unique<Family<T>>(
      std::string(name), std::string(help), std::move(label_names),
      std::move(options));
  Family<T>* raw = family.get();
  if (unlabelled) {
    // Exported from the start, before its first observation.
    if (absl::StatusOr<T*> child = raw->WithLabels({}); !child.ok()) {
      return child.status();
    }
  }
  if (absl::Status status = Insert(std::move(family), T::SampleSuffixes());
      !status.ok()) {
    return status;
  }
  return raw;
}

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_REGISTRY_H_
