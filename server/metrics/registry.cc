#include "server/metrics/registry.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace hecate::metrics {

absl::Status MetricRegistry::ValidateFamily(
    absl::string_view name, absl::string_view help,
    const std::vector<std::string>& label_names) {
  if (!IsValidMetricName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric name \"", name,
                     "\" does not match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  if (!IsValidUtf8(help)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric ", name, ": help text is not valid UTF-8"));
  }
  absl::flat_hash_set<absl::string_view> seen;
  for (const std::string& label : label_names) {
    if (absl::Status status = ValidateLabelName(label); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": ", status.message()));
    }
    if (!seen.insert(label).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metric ", name, ": label name \"", label, "\" appears twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status MetricRegistry::Insert(
    std::unique_ptr<FamilyBase> family,
    const std::vector<absl::string_view>& suffixes) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> names;
  names.reserve(suffixes.size());
  for (absl::string_view suffix : suffixes) {
    std::string sample_name = absl::StrCat(family->name(), suffix);
    if (taken_names_.contains(sample_name)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "metric ", family->name(), ": the name ", sample_name,
          " is already exposed by another metric"));
    }
    names.push_back(std::move(sample_name));
  }
  for (std::string& sample_name : names) taken_names_.insert(std::move(sample_name));
  const std::string name = family->name();
  families_.emplace(name, std::move(family));
  return absl::OkStatus();
}

std::string MetricRegistry::Expose() const {
  std::vector<const FamilyBase*> families;
  {
    std::lock_guard<std::mutex> lock(mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  std::string out;
  std::string samples;
  for (const FamilyBase* family : families) {
    samples.clear();
    family->AppendSamples(&samples);
    if (samples.empty()) continue;
    absl::StrAppend(&out, "# HELP ", family->name(), " ",
                    EscapeHelp(family->help()), "\n", "# TYPE ",
                    family->name(), " ", family->type_name(), "\n", samples);
  }
  return out;
}

}  // namespace hecate::metrics
