#include "client/bench/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace hecate {

void LatencyStats::Merge(const LatencyStats& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
}

double NearestRankPercentile(const std::vector<double>& sorted, double percent) {
  if (sorted.empty()) return 0;
  percent = std::min(100.0, std::max(percent, 0.0));
  // rank = ceil(p/100 * n), 1-based; at least 1 so p near 0 gives the minimum.
  // The product is rounded to 1e-9 first so that 0.9 * 100 stays 90, not
  // 90.00000000000001 (which would ceil to 91).
  const double exact = percent / 100.0 * static_cast<double>(sorted.size());
  const double rounded = std::round(exact * 1e9) / 1e9;
  size_t rank = static_cast<size_t>(std::ceil(rounded));
  rank = std::min(std::max<size_t>(rank, 1), sorted.size());
  return sorted[rank - 1];
}

double LatencyStats::Percentile(double percent) const {
  std::vector<double> sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  return NearestRankPercentile(sorted, percent);
}

LatencyStats::Summary LatencyStats::Summarize() const {
  Summary summary;
  summary.count = samples_.size();
  if (samples_.empty()) return summary;
  std::vector<double> sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  summary.mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / sorted.size();
  summary.p50 = NearestRankPercentile(sorted, 50);
  summary.p90 = NearestRankPercentile(sorted, 90);
  summary.p99 = NearestRankPercentile(sorted, 99);
  summary.max = sorted.back();
  return summary;
}

}  // namespace hecate
