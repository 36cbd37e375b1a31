// Family<T>: one metric name with its label names, and one child metric T per
// distinct tuple of label values (T is Counter, Gauge, CallbackGauge,
// Histogram or SlidingWindowSummary).
//
// Promises: WithLabels() returns the same child for the same values for the
// family's whole life (children are never removed, so the pointer may be
// cached and used from any thread without further lookups); a wrong number of
// values or a value that is not UTF-8 is InvalidArgument and creates nothing.
// The lookup takes the family's mutex: resolve children once, outside hot loops.
//
//   Family<Counter>* errors = *registry.AddCounter(
//       "hecate_errors_total", "...", {"method", "code"});
//   absl::StatusOr<Counter*> e = errors->WithLabels({"Stream", "NOT_FOUND"});
//   if (e.ok()) (*e)->Increment();
#ifndef HECATE_SERVER_METRICS_FAMILY_H_
#define HECATE_SERVER_METRICS_FAMILY_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/metrics/text_format.h"

namespace hecate::metrics {

// What the registry needs from a family, whatever its metric type.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help,
             std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)) {}
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual absl::string_view type_name() const = 0;

  // Appends every child's sample lines (no HELP/TYPE), children ordered by
  // their label values. Returns the number of children written.
  virtual size_t AppendSamples(std::string* out) const = 0;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  // The registry validates name, help, label names and options first.
  Family(std::string name, std::string help,
         std::vector<std::string> label_names, typename T::Options options)
      : FamilyBase(std::move(name), std::move(help), std::move(label_names)),
        options_(std::move(options)) {}

  absl::string_view type_name() const override { return T::kTypeName; }

  absl::StatusOr<T*> WithLabels(absl::Span<const absl::string_view> values) {
    if (values.size() != label_names().size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metric ", name(), " has ", label_names().size(), " label(s) (",
          absl::StrJoin(label_names(), ", "), ") but got ", values.size(),
          " value(s)"));
    }
    for (size_t i = 0; i < values.size(); ++i) {
      if (!IsValidUtf8(values[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("metric ", name(), ": value of label ",
                         label_names()[i], " is not valid UTF-8"));
      }
    }
    std::vector<std::string> key(values.begin(), values.end());
    std::lock_guard<std::mutex> lock(mu_);
    auto it = children_.find(key);
    if (it == children_.end()) {
      Child child;
      for (size_t i = 0; i < key.size(); ++i) {
        absl::StrAppend(&child.escaped_labels, i > 0 ? "," : "",
                        label_names()[i], "=\"", EscapeLabelValue(key[i]),
                        "\"");
      }
      child.metric = std::make_unique<T>(options_);
      it = children_.emplace(std::move(key), std::move(child)).first;
    }
    return it->second.metric.get();
  }

  size_t AppendSamples(std::string* out) const override {
    // Read the values outside the lock: a CallbackGauge's callback may take
    // its owner's locks, and those owners may be calling WithLabels.
    std::vector<std::pair<const T*, const std::string*>> snapshot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      snapshot.reserve(children_.size());
      for (const auto& [values, child] : children_) {
        snapshot.emplace_back(child.metric.get(), &child.escaped_labels);
      }
    }
    for (const auto& [metric, labels] : snapshot) {
      metric->AppendSamples(name(), *labels, out);
    }
    return snapshot.size();
  }

 private:
  struct Child {
    std::string escaped_labels;  // a="x",b="y"
    std::unique_ptr<T> metric;
  };

  const typename T::Options options_;
  // std::mutex rather than absl::Mutex throughout this library: Debian's absl
  // is not built with TSan, so only std::mutex is visible to --config=tsan.
  mutable std::mutex mu_;
  // std::map: ordered output, and nodes (hence Child::escaped_labels) never move.
  std::map<std::vector<std::string>, Child> children_;  // guarded by mu_
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_FAMILY_H_
