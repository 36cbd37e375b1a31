// The text exposition of hecated's metrics (Prometheus format 0.0.4, what
// /metrics serves), written by prometheus-cpp's TextSerializer from any
// number of prometheus::Collectable (hecated serves one: the prometheus-cpp
// Registry).
//
// Promises: families appear in the order of `collectables`, each collectable's
// in its own order (a prometheus::Registry: counters, gauges, histograms, then
// summaries, each in registration order); a family without samples is left
// out. Thread-safe as far as the collectables are (prometheus-cpp's are); never
// blocks observers for longer than one metric's Collect.
//
//   std::string body = SerializeText({&registry});
//   // Content-Type: kTextContentType
#ifndef HECATE_SERVER_METRICS_EXPOSITION_H_
#define HECATE_SERVER_METRICS_EXPOSITION_H_

#include <string>
#include <vector>

#include "prometheus/collectable.h"

namespace hecate::metrics {

inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Null entries are skipped.
std::string SerializeText(const std::vector<const prometheus::Collectable*>& collectables);

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_EXPOSITION_H_
