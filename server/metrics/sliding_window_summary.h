// SlidingWindowSummary: quantiles (default p50/p90/p99) of the observations
// made in the last `window` of time, in bounded memory, plus lifetime _sum and
// _count. Exported as a Prometheus summary:
//   name{quantile="0.5"} v  name{quantile="0.9"} v  name{quantile="0.99"} v
//   name_sum (all time)     name_count (all time)
//
// How: the window is split into `slots` time slots; each slot holds a
// log-linear histogram (HDR-style) with 2^sub_bucket_bits linear sub-buckets
// per power of two, indexed straight from the bits of the IEEE-754 double.
// An observation is one relaxed atomic increment in the current slot's
// histogram; when a slot's time is up the oldest slot is cleared and becomes
// the current one (under a mutex taken once per slot rotation, not per
// observation). A scrape merges the slots and walks the merged histogram.
//
// Accuracy (what the tests check): for q in [0, 1] and n samples in the window,
// the reported q-quantile is the midpoint of the bucket holding the sample of
// rank max(1, ceil(q * n)) of the sorted window. For values in
// [lowest_trackable, highest_trackable) its relative error is at most
// 2^-(sub_bucket_bits + 1): 0.78% for the default 6 bits. Values below the
// lowest trackable power of two are reported as half of it (absolute error
// below that); values at or above the highest trackable power of two (and
// +Inf) are reported as +Inf. An empty window reports NaN, like the Go client.
//
// Window: samples are forgotten one whole slot at a time, so a scrape covers
// between window*(slots-1)/slots and window of the most recent history.
// Observations racing a rotation may be counted in the neighbouring slot.
//
// Memory: slots * (histogram buckets + 2) * 8 bytes, fixed at construction
// (102 KiB for the defaults: 2^-20..2^14 is 34 octaves * 64 sub-buckets,
// times 6 slots), whatever the number of observations. MemoryBytes() reports it.
//
// Rejected: NaN and negative observations (the index needs v >= 0); they are
// dropped and counted in rejected_observations().
#ifndef HECATE_SERVER_METRICS_SLIDING_WINDOW_SUMMARY_H_
#define HECATE_SERVER_METRICS_SLIDING_WINDOW_SUMMARY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/metrics/striping.h"

namespace hecate::metrics {

class SlidingWindowSummary {
 public:
  struct Options {
    // Each in [0, 1], strictly increasing.
    std::vector<double> quantiles = {0.5, 0.9, 0.99};
    // > 0; split into `slots` equal slots of at least one millisecond.
    absl::Duration window = absl::Seconds(60);
    // In [2, 1000].
    int slots = 6;
    // In [1, 12]: relative error 2^-(bits + 1).
    int sub_bucket_bits = 6;
    // Rounded down / up to powers of two; need 2.2e-308 <= lowest < highest
    // < 2^1023. Defaults: 2^-20 s (0.95 us) to 2^14 s (4.6 h).
    double lowest_trackable = 1e-6;
    double highest_trackable = 1e4;
    // Monotonic nanoseconds; steady_clock when empty. Tests inject a fake.
    std::function<int64_t()> clock_nanos;
  };
  static constexpr absl::string_view kTypeName = "summary";
  // Also caps memory: slots * buckets * 8 bytes must stay <= 16 MiB.
  static absl::Status ValidateOptions(const Options& options);
  static std::vector<absl::string_view> SampleSuffixes() {
    return {"", "_sum", "_count"};
  }

  struct Snapshot {
    std::vector<std::pair<double, double>> quantiles;  // (q, value)
    uint64_t window_count = 0;  // observations inside the window
    double sum = 0.0;           // all time
    uint64_t count = 0;         // all time
  };

  // `options` must have passed ValidateOptions (the registry checks it).
  explicit SlidingWindowSummary(const Options& options);
  SlidingWindowSummary(const SlidingWindowSummary&) = delete;
  SlidingWindowSummary& operator=(const SlidingWindowSummary&) = delete;

  void Observe(double value);
  Snapshot TakeSnapshot() const;

  double relative_error_bound() const;
  size_t MemoryBytes() const;
  uint64_t rejected_observations() const {
    return rejected_.load(std::memory_order_relaxed);
  }

  void AppendSamples(absl::string_view name, absl::string_view labels,
                     std::string* out) const;

 private:
  // Index in a slot's histogram: 0 underflow, 1..regular regular, last overflow.
  size_t BucketIndex(double value) const;
  double BucketRepresentative(size_t index) const;
  // Rotates slots until `now_nanos` falls inside the current one.
  void AdvanceTo(int64_t now_nanos) const;
  int64_t Now() const;
  std::atomic<uint64_t>& Count(size_t slot, size_t bucket) const {
    return counts_[slot * buckets_per_slot_ + bucket];
  }

  const std::vector<double> quantiles_;
  const std::function<int64_t()> clock_nanos_;
  const int sub_bucket_bits_;
  const int64_t slot_nanos_;
  const size_t slots_;
  const int shift_;          // 52 - sub_bucket_bits: drops the low mantissa bits
  const double lowest_;      // power of two
  const double highest_;     // power of two
  const uint64_t base_key_;  // key (bits >> shift_) of `lowest_`
  const size_t buckets_per_slot_;
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;

  mutable std::mutex rotate_mu_;
  mutable std::atomic<size_t> current_slot_{0};
  mutable std::atomic<int64_t> current_slot_end_nanos_{0};

  StripedDouble sum_;
  StripedDouble count_;  // exact up to 2^53 observations
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_SLIDING_WINDOW_SUMMARY_H_
