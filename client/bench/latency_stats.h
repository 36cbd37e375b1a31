// LatencyStats: the latency samples of a benchmark and their percentiles.
//
// Keeps every sample (8 bytes each: a 60 s run at 10k chunks/s is 4.8 MB) so
// percentiles are exact, not estimated. Percentile(p) is the nearest-rank
// percentile: the smallest sample v such that at least p% of the samples are
// <= v. Not thread-safe: give each thread its own and Merge them.
#ifndef HECATE_CLIENT_BENCH_LATENCY_STATS_H_
#define HECATE_CLIENT_BENCH_LATENCY_STATS_H_

#include <cstddef>
#include <vector>

namespace hecate {

class LatencyStats {
 public:
  struct Summary {
    size_t count = 0;
    double mean = 0;
    double p50 = 0;
    double p90 = 0;
    double p99 = 0;
    double max = 0;
  };

  void Add(double seconds) { samples_.push_back(seconds); }
  void Merge(const LatencyStats& other);
  size_t count() const { return samples_.size(); }

  // `percent` in (0, 100]; values outside are clamped to that range. 0 when
  // there are no samples.
  double Percentile(double percent) const;

  // Count, mean, p50, p90, p99 and max in one pass over a sorted copy.
  Summary Summarize() const;

 private:
  std::vector<double> samples_;
};

// The nearest-rank percentile of samples already sorted ascending.
double NearestRankPercentile(const std::vector<double>& sorted, double percent);

}  // namespace hecate

#endif  // HECATE_CLIENT_BENCH_LATENCY_STATS_H_
