// ServerMetrics: the catalogue of every metric hecated exports, registered in
// one place so names, labels, units and buckets are reviewed together.
//
// Promises: Create() registers all families below in the given registry, or
// returns the first registration error (AlreadyExists when called twice on
// one registry); the pointers stay valid as long as the registry.
// Unlabelled metrics are resolved once here, so hot-path updates are a single
// lock-free operation (`metrics->tokens_in->Increment(n)`). Labelled families
// are looked up per event (a mutex and a map lookup), meant for per-RPC and
// per-checkpoint events, not per token. Names follow Prometheus conventions:
// base units (seconds, bytes), counters end in _total.
//
// What each metric measures (the lead's wiring should match):
//   hecate_request_duration_seconds{method,code}   histogram: one RPC, from
//       arrival to final status (for Stream/Generate: the whole stream).
//       method = short RPC name ("Stream"), code = gRPC code name ("OK").
//   hecate_errors_total{method,code}                RPCs that ended != OK.
//   hecate_chunk_forward_duration_seconds           histogram: the backend's
//       forward pass over one chunk (session lock held, excluding queueing).
//   hecate_chunk_latency_seconds{quantile}          summary, sliding window
//       (60 s, 6 slots; see sliding_window_summary.h for accuracy): one chunk
//       from its request message to its reply written, queueing included.
//   hecate_time_to_first_token_seconds              histogram: Generate (or a
//       Stream chunk asking to generate) until its first sampled token is sent.
//   hecate_inter_token_latency_seconds              histogram: between
//       consecutive generated tokens of one generation.
//   hecate_tokens_total{direction="in"|"out"}       bytes fed in / generated.
//       Tokens per second is left to PromQL: rate(hecate_tokens_total[1m]),
//       which aggregates across replicas, unlike a precomputed gauge.
//   hecate_active_streams                           open Stream/Generate RPCs.
//   hecate_batch_size                               histogram: sessions per
//       batched forward call (1 when not batching).
//   hecate_sessions{tier="device"|"host"|"disk"}    callback gauge: live
//       sessions per residency tier, read from the store at scrape time.
//   hecate_state_bytes{tier}                        callback gauge: bytes of
//       session state per tier.
//   hecate_session_evictions_total{from,to}         tier moves down
//       ("device"->"host", "host"->"disk", ...).
//   hecate_checkpoint_restores_total{result}        "ok" or the failure reason
//       (e.g. "data_loss", "fingerprint_mismatch", "pulse_mismatch").
//   hecate_checkpoint_duration_seconds{operation}   histogram: "save"/"restore".
//   hecate_checkpoint_size_bytes{operation}         histogram of file sizes.
//   hecate_build_info{version,backend}              constant 1.
//
//   MetricRegistry registry;
//   ServerMetricsOptions options;
//   options.version = "0.1.0";
//   options.backend = "cpu";
//   absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
//       ServerMetrics::Create(&registry, options);
//   (*metrics)->ObserveRequest("Stream", "OK", seconds);
#ifndef HECATE_SERVER_METRICS_HECATE_METRICS_H_
#define HECATE_SERVER_METRICS_HECATE_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/metrics/registry.h"

namespace hecate::metrics {

// Values of the `tier` / `from` / `to` labels.
inline constexpr char kTierDevice[] = "device";
inline constexpr char kTierHost[] = "host";
inline constexpr char kTierDisk[] = "disk";

struct ServerMetricsOptions {
  std::string version;  // hecate_build_info{version}
  std::string backend;  // hecate_build_info{backend}: "cpu" or "cuda"
  absl::Duration chunk_latency_window = absl::Seconds(60);
  // For tests; steady_clock when empty.
  std::function<int64_t()> clock_nanos;
};

struct ServerMetrics {
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(
      MetricRegistry* registry, const ServerMetricsOptions& options);

  // One RPC finished: observes its duration and, when code != "OK", counts an
  // error. A label value that is not UTF-8 (never the case for method and
  // code names) is ignored.
  void ObserveRequest(absl::string_view method, absl::string_view code,
                      double seconds);
  void CountEviction(absl::string_view from_tier, absl::string_view to_tier);
  void CountRestore(absl::string_view result);
  // operation: "save" or "restore".
  void ObserveCheckpoint(absl::string_view operation, double seconds,
                         double bytes);

  // Per RPC.
  Family<Histogram>* request_duration_seconds = nullptr;  // {method, code}
  Family<Counter>* errors_total = nullptr;                // {method, code}
  // Per chunk and token: resolved children, one lock-free update each.
  Histogram* chunk_forward_duration_seconds = nullptr;
  SlidingWindowSummary* chunk_latency_seconds = nullptr;
  Histogram* time_to_first_token_seconds = nullptr;
  Histogram* inter_token_latency_seconds = nullptr;
  Counter* tokens_in = nullptr;   // hecate_tokens_total{direction="in"}
  Counter* tokens_out = nullptr;  // hecate_tokens_total{direction="out"}
  Gauge* active_streams = nullptr;
  Histogram* batch_size = nullptr;
  // Sessions: set a callback per tier with
  //   (*sessions->WithLabels({kTierHost}))->SetCallback(...).
  Family<CallbackGauge>* sessions = nullptr;     // {tier}
  Family<CallbackGauge>* state_bytes = nullptr;  // {tier}
  Family<Counter>* session_evictions_total = nullptr;    // {from, to}
  Family<Counter>* checkpoint_restores_total = nullptr;  // {result}
  Family<Histogram>* checkpoint_duration_seconds = nullptr;  // {operation}
  Family<Histogram>* checkpoint_size_bytes = nullptr;        // {operation}
  Family<Gauge>* build_info = nullptr;  // {version, backend}, value 1
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_HECATE_METRICS_H_
