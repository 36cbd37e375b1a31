#include "server/metrics/histogram.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/metrics/text_format.h"

namespace hecate::metrics {
namespace {

constexpr int kMaxBuckets = 1000;

absl::Status CheckCount(int count) {
  if (count < 1 || count > kMaxBuckets) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bucket count must be in [1, ", kMaxBuckets, "], got ", count));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<double>> ExponentialBuckets(double start,
                                                       double factor,
                                                       int count) {
  if (absl::Status status = CheckCount(count); !status.ok()) return status;
  if (!(start > 0.0) || std::isinf(start)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "exponential buckets need a finite start > 0, got ", start));
  }
  if (!(factor > 1.0) || std::isinf(factor)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "exponential buckets need a finite factor > 1, got ", factor));
  }
  std::vector<double> bounds;
  bounds.reserve(count);
  double bound = start;
  for (int i = 0; i < count; ++i) {
    if (std::isinf(bound)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "exponential buckets overflow: bound ", i, " of ", count,
          " is infinite (start ", start, ", factor ", factor, ")"));
    }
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

absl::StatusOr<std::vector<double>> LinearBuckets(double start, double width,
                                                  int count) {
  if (absl::Status status = CheckCount(count); !status.ok()) return status;
  if (!std::isfinite(start)) {
    return absl::InvalidArgumentError(
        absl::StrCat("linear buckets need a finite start, got ", start));
  }
  if (!(width > 0.0) || std::isinf(width)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "linear buckets need a finite width > 0, got ", width));
  }
  std::vector<double> bounds;
  bounds.reserve(count);
  for (int i = 0; i < count; ++i) {
    const double bound = start + i * width;
    // Also catches widths so small next to start that bounds repeat.
    if (!std::isfinite(bound) || (i > 0 && !(bound > bounds.back()))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "linear buckets: bound ", i, " (", bound,
          ") is not finite or not above the previous one"));
    }
    bounds.push_back(bound);
  }
  return bounds;
}

absl::Status Histogram::ValidateOptions(const Options& options) {
  std::vector<double> bounds = options.upper_bounds;
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) {
    bounds.pop_back();
  }
  if (static_cast<int>(bounds.size()) > kMaxBuckets) {
    return absl::InvalidArgumentError(absl::StrCat(
        "histogram has ", bounds.size(), " buckets; at most ", kMaxBuckets));
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram bucket bound ", i, " is ", FormatDouble(bounds[i]),
          "; bounds must be finite (+Inf is implicit)"));
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram bucket bounds must strictly increase: bound ", i, " (",
          FormatDouble(bounds[i]), ") <= bound ", i - 1, " (",
          FormatDouble(bounds[i - 1]), ")"));
    }
  }
  return absl::OkStatus();
}

Histogram::Histogram(const Options& options)
    : upper_bounds_(options.upper_bounds) {
  if (!upper_bounds_.empty() && std::isinf(upper_bounds_.back())) {
    upper_bounds_.pop_back();
  }
  const size_t buckets = upper_bounds_.size() + 1;
  lines_per_stripe_ = (buckets + kCountsPerLine - 1) / kCountsPerLine;
  count_lines_ = std::make_unique<CountLine[]>(kStripes * lines_per_stripe_);
  for (size_t line = 0; line < kStripes * lines_per_stripe_; ++line) {
    for (std::atomic<uint64_t>& count : count_lines_[line].counts) {
      count.store(0, std::memory_order_relaxed);
    }
  }
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // First bound >= value; past the end means the +Inf bucket.
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
      upper_bounds_.begin());
  const size_t stripe = ThisThreadStripe();
  CountAt(stripe, bucket).fetch_add(1, std::memory_order_relaxed);
  sum_.Add(value);
}

Histogram::Snapshot Histogram::TakeSnapshot() const {
  Snapshot snapshot;
  snapshot.upper_bounds = upper_bounds_;
  const size_t buckets = upper_bounds_.size() + 1;
  snapshot.cumulative_counts.resize(buckets);
  uint64_t running = 0;
  for (size_t bucket = 0; bucket < buckets; ++bucket) {
    for (size_t stripe = 0; stripe < kStripes; ++stripe) {
      running += CountAt(stripe, bucket).load(std::memory_order_relaxed);
    }
    snapshot.cumulative_counts[bucket] = running;
  }
  snapshot.count = running;
  snapshot.sum = sum_.Sum();
  return snapshot;
}

void Histogram::AppendSamples(absl::string_view name, absl::string_view labels,
                              std::string* out) const {
  const Snapshot snapshot = TakeSnapshot();
  for (size_t bucket = 0; bucket < snapshot.cumulative_counts.size(); ++bucket) {
    const double bound = bucket < snapshot.upper_bounds.size()
                             ? snapshot.upper_bounds[bucket]
                             : HUGE_VAL;
    AppendSampleLine(name, "_bucket", labels,
                     absl::StrCat("le=\"", FormatDouble(bound), "\""),
                     static_cast<double>(snapshot.cumulative_counts[bucket]),
                     out);
  }
  AppendSampleLine(name, "_sum", labels, "", snapshot.sum, out);
  AppendSampleLine(name, "_count", labels, "",
                   static_cast<double>(snapshot.count), out);
}

}  // namespace hecate::metrics
