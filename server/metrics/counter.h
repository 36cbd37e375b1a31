// Counter: a monotonically increasing double (requests, tokens, bytes).
//
// Promises: Increment() is lock-free and touches one per-thread cache line, so
// many threads may count the same event cheaply; Value() is the sum of every
// completed increment. Increments that are negative, infinite or NaN would
// break monotonicity: they are dropped and counted in rejected_increments()
// (a metrics call on the hot path never fails the request it measures).
//
// Counters are created by a MetricRegistry family, never directly:
//   absl::StatusOr<Family<Counter>*> tokens =
//       registry.AddCounter("hecate_tokens_total", "Tokens.", {"direction"});
//   Counter* in = *(*tokens)->WithLabels({"in"});   // cache this pointer
//   in->Increment(chunk.size());
#ifndef HECATE_SERVER_METRICS_COUNTER_H_
#define HECATE_SERVER_METRICS_COUNTER_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/metrics/striping.h"

namespace hecate::metrics {

class Counter {
 public:
  struct Options {};
  static constexpr absl::string_view kTypeName = "counter";
  static absl::Status ValidateOptions(const Options&) { return absl::OkStatus(); }
  // Sample names this type writes, as suffixes of the family name.
  static std::vector<absl::string_view> SampleSuffixes() { return {""}; }

  explicit Counter(const Options& = {}) {}
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(double delta = 1.0);
  double Value() const { return total_.Sum(); }
  uint64_t rejected_increments() const {
    return rejected_.load(std::memory_order_relaxed);
  }

  // Writes `name{labels} value`.
  void AppendSamples(absl::string_view name, absl::string_view labels,
                     std::string* out) const;

 private:
  StripedDouble total_;
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_COUNTER_H_
