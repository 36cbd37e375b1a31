// Histogram: counts of observations in fixed buckets, plus their sum; the
// Prometheus way to get latency distributions that aggregate across replicas
// (histogram_quantile over rate(..._bucket[5m])).
//
// Promises: Observe() is lock-free and touches only the calling thread's stripe
// (one row of bucket counters on its own cache lines); an observation v lands
// in the first bucket whose upper bound satisfies v <= bound, or in +Inf. A
// snapshot's _count is the sum of its bucket counts by construction, so the
// exported +Inf bucket always equals _count, and cumulative buckets never
// decrease. NaN observations are dropped and counted in rejected_observations().
//
//   Family<Histogram>* latency = *registry.AddHistogram(
//       "hecate_request_duration_seconds", "...", {"method", "code"},
//       {*ExponentialBuckets(0.0001, 2, 20)});
//   (*latency->WithLabels({"Stream", "OK"}))->Observe(0.012);
#ifndef HECATE_SERVER_METRICS_HISTOGRAM_H_
#define HECATE_SERVER_METRICS_HISTOGRAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/metrics/striping.h"

namespace hecate::metrics {

// start, start*factor, ..., start*factor^(count-1). Needs start > 0,
// factor > 1, 1 <= count <= 1000, and every bound finite.
absl::StatusOr<std::vector<double>> ExponentialBuckets(double start,
                                                       double factor, int count);

// start, start+width, ..., start+(count-1)*width. Needs width > 0,
// 1 <= count <= 1000, every bound finite.
absl::StatusOr<std::vector<double>> LinearBuckets(double start, double width,
                                                  int count);

class Histogram {
 public:
  struct Options {
    // Finite and strictly increasing; the +Inf bucket is implicit (a trailing
    // +Inf here is accepted and dropped). At most 1000 bounds.
    std::vector<double> upper_bounds;
  };
  static constexpr absl::string_view kTypeName = "histogram";
  static absl::Status ValidateOptions(const Options& options);
  static std::vector<absl::string_view> SampleSuffixes() {
    return {"", "_bucket", "_sum", "_count"};
  }

  struct Snapshot {
    std::vector<double> upper_bounds;         // without +Inf
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0.0;
    uint64_t count = 0;                       // == cumulative_counts.back()
  };

  // `options` must have passed ValidateOptions (the registry checks it).
  explicit Histogram(const Options& options);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);
  Snapshot TakeSnapshot() const;
  uint64_t rejected_observations() const {
    return rejected_.load(std::memory_order_relaxed);
  }

  // Writes the _bucket lines (le="..." cumulative, ending with +Inf), _sum
  // and _count.
  void AppendSamples(absl::string_view name, absl::string_view labels,
                     std::string* out) const;

 private:
  struct alignas(kCacheLineBytes) CountLine {
    std::atomic<uint64_t> counts[kCacheLineBytes / sizeof(uint64_t)];
  };
  static constexpr size_t kCountsPerLine = kCacheLineBytes / sizeof(uint64_t);

  std::atomic<uint64_t>& CountAt(size_t stripe, size_t bucket) const {
    const size_t flat = stripe * lines_per_stripe_ * kCountsPerLine + bucket;
    return count_lines_[flat / kCountsPerLine].counts[flat % kCountsPerLine];
  }

  std::vector<double> upper_bounds_;
  size_t lines_per_stripe_;                    // rows of (bounds + 1) counts
  std::unique_ptr<CountLine[]> count_lines_;   // kStripes rows
  StripedDouble sum_;
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_HISTOGRAM_H_
