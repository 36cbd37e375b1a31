// ServerMetrics: the catalogue of every metric hecated exports, registered in
// one place so names, labels, units and buckets are reviewed together. The
// metrics themselves are prometheus-cpp's (Counter, Gauge, Histogram, Summary
// in a prometheus::Registry); what is Hecate's is the catalogue, the label
// names of each family. The session store's reports reach it through one
// path, store_metrics.h (a StoreObserver).
//
// Promises: Create() registers all families below in the given registry, or
// returns the first registration error (AlreadyExists when called twice on
// one registry); the pointers stay valid as long as the registry and this
// object. Unlabelled metrics are resolved once here, so hot-path updates are
// one prometheus-cpp call (`metrics->tokens_in->Increment(n)`: an atomic
// compare-exchange for counters and gauges, a short mutex for histograms and
// summaries). Labelled families are looked up per event (a mutex and a hash
// lookup), meant for per-RPC and per-checkpoint events, not per token. Names
// follow Prometheus conventions: base units (seconds, bytes), counters end in
// _total. Collectables() is everything /metrics serves.
//
// What each metric measures (the lead's wiring should match):
//   hecate_request_duration_seconds{method,code}   histogram: one RPC, from
//       arrival to final status (for Stream/Generate: the whole stream).
//       method = short RPC name ("Stream"), code = gRPC code name ("OK").
//   hecate_errors_total{method,code}                RPCs that ended != OK.
//   hecate_chunk_forward_duration_seconds           histogram: the backend's
//       forward pass over one chunk (session lock held, excluding queueing).
//   hecate_chunk_latency_seconds{quantile}          summary over a sliding
//       window (prometheus-cpp's CKMS quantiles over max_age = 60 s in 6 age
//       buckets; p50 +-5%, p90 +-1%, p99 +-0.1% in rank): one chunk from its
//       request message to its reply written, queueing included.
//   hecate_time_to_first_token_seconds              histogram: Generate (or a
//       Stream chunk asking to generate) until its first sampled token is sent.
//   hecate_inter_token_latency_seconds              histogram: between
//       consecutive generated tokens of one generation.
//   hecate_tokens_total{direction="in"|"out"}       bytes fed in / generated.
//       Tokens per second is left to PromQL: rate(hecate_tokens_total[1m]),
//       which aggregates across replicas, unlike a precomputed gauge.
//   hecate_active_streams                           open Stream/Generate RPCs.
//   hecate_batch_size                               histogram: sessions per
//       engine step (one ForwardBatch call).
//   The engine loop's view (one loop per backend, steps of ForwardBatch):
//   hecate_queue_wait_seconds                       histogram: one chunk from
//       its arrival (the request message read) to the first engine step that
//       includes any of its tokens. Observed once per chunk.
//   hecate_step_duration_seconds                    histogram: one engine step,
//       i.e. one Backend::ForwardBatch call, wall time around it (for CUDA:
//       until its results are on the host). Observed once per step.
//   hecate_step_host_seconds                        histogram: the engine
//       thread's host work around one step, outside the forward: forming
//       it, then applying its results (sampling, replies) before the next
//       step can start. Served tokens/s = engine tokens/s when it is 0.
//   hecate_step_tokens{kind="decode"|"prefill"}     histogram: tokens of each
//       kind in one step: decode = items feeding one sampled token back,
//       prefill = bytes of client input. A step with both observes both; a
//       kind absent from a step is not observed (no zero samples), so
//       _count is the steps that had that kind.
//   hecate_promotion_duration_seconds{from="host"|"disk"} histogram: bringing
//       an idle session back to the device before a chunk runs on it (disk:
//       read, verify, decode and upload; host: upload). Set by the store
//       (StoreObserver::OnPromotion, store_metrics.h).
//   hecate_snapshot_duration_seconds{how="spare"|"download"} histogram: the
//       time the thread that ended a chunk (the engine loop's) spent taking
//       a rewind snapshot that came due: spare = a device copy into a spare
//       state, downloaded in the background; download = the whole state
//       downloaded there. hecate_snapshots_deferred_total counts snapshots
//       put off because every spare was busy (due again at the session's
//       next chunk end). Set by the store (StoreObserver::OnSnapshot).
//   hecate_user_tokens_total{user,direction="in"|"out"} tokens per
//       authenticated user, as hecate_tokens_total. `user` is the name the
//       --api_keys file gives the caller ("anonymous" without auth), so the
//       label set is bounded by that file, never by what clients send; do not
//       pass anything else (session ids, client strings) as `user`.
//   hecate_sessions{tier="device"|"host"|"disk"}    gauge: live sessions per
//       residency tier, set by the store on every change (store_metrics.h).
//   hecate_state_bytes{tier}                        gauge: bytes of session
//       state per tier, likewise.
//   hecate_session_evictions_total{from,to}         tier moves down
//       ("device"->"host", "host"->"disk", ...).
//   hecate_session_expiries_total{result}          idle sessions past
//       --session_ttl: "deleted", "kept" (stored by name, then deleted) or
//       "failed" (keep_on_expiry but the checkpoint failed: still live).
//   hecate_pinned_sessions                          gauge: live pinned
//       sessions, set by the store with the tier gauges.
//   hecate_checkpoint_restores_total{result}        "ok" or the failure reason
//       (e.g. "data_loss", "fingerprint_mismatch", "pulse_mismatch").
//   hecate_checkpoint_duration_seconds{operation}   histogram: "save"/"restore".
//   hecate_checkpoint_size_bytes{operation}         histogram of file sizes.
//   hecate_checkpoint_save_failures_total{kind,code} checkpoints not written:
//       kind "export" (stored by name: quota, reserve, disk), "offload" (the
//       session stays in memory) or "drain" (the session is lost at exit;
//       the log names it); code the gRPC code name.
//   hecate_build_info{version,backend}              constant 1.
//
//   prometheus::Registry registry;
//   ServerMetricsOptions options;
//   options.version = "0.1.0";
//   options.backend = "cpu";
//   absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
//       ServerMetrics::Create(&registry, options);
//   (*metrics)->ObserveRequest("Stream", "OK", seconds);
//   std::string body = SerializeText((*metrics)->Collectables());  // exposition.h
#ifndef HECATE_SERVER_METRICS_HECATE_METRICS_H_
#define HECATE_SERVER_METRICS_HECATE_METRICS_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"
#include "prometheus/registry.h"
#include "prometheus/summary.h"

namespace hecate::metrics {

// Values of the `tier` / `from` / `to` labels.
inline constexpr char kTierDevice[] = "device";
inline constexpr char kTierHost[] = "host";
inline constexpr char kTierDisk[] = "disk";
// The per-tier gauges below are indexed in this order.
inline constexpr int kTiers = 3;
inline constexpr const char* kTierNames[kTiers] = {kTierDevice, kTierHost, kTierDisk};

// A prometheus-cpp family with the label names the catalogue gives it, so a
// child is found by its label values in that order:
//   errors_total->WithLabels({"Stream", "NOT_FOUND"})->Increment();
template <typename T>
class Family {
 public:
  // Creates (or finds) the child with these labels: prometheus::Family::Add
  // plus the constructor arguments of T (a histogram's buckets).
  using AddChild = std::function<T&(prometheus::Family<T>&, const prometheus::Labels&)>;

  Family(prometheus::Family<T>* family, std::vector<std::string> label_names, AddChild add)
      : family_(family), label_names_(std::move(label_names)), add_(std::move(add)) {}

  // The child with one value per label name, created on first use; null when
  // the number of values is not the number of label names.
  T* WithLabels(std::initializer_list<absl::string_view> values) const {
    if (values.size() != label_names_.size()) return nullptr;
    prometheus::Labels labels;
    auto name = label_names_.begin();
    for (absl::string_view value : values) labels.emplace(*name++, std::string(value));
    return &add_(*family_, labels);
  }

  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  prometheus::Family<T>* const family_;
  const std::vector<std::string> label_names_;
  const AddChild add_;
};

// hecate_active_streams: a prometheus::Gauge moved by signed deltas, the
// spelling the reactors use (Add(1) when a stream opens, Add(-1) when it ends).
class UpDownGauge {
 public:
  explicit UpDownGauge(prometheus::Gauge* gauge) : gauge_(gauge) {}
  void Add(double delta) { gauge_->Increment(delta); }
  void Increment() { gauge_->Increment(); }
  void Decrement() { gauge_->Decrement(); }
  double Value() const { return gauge_->Value(); }

 private:
  prometheus::Gauge* const gauge_;
};

struct ServerMetricsOptions {
  std::string version;  // hecate_build_info{version}
  std::string backend;  // hecate_build_info{backend}: "cpu" or "cuda"
  // hecate_chunk_latency_seconds: quantiles over the last `window`, forgotten
  // one age bucket (window / age_buckets) at a time.
  absl::Duration chunk_latency_window = absl::Seconds(60);
  int chunk_latency_age_buckets = 6;
};

struct ServerMetrics {
  static absl::StatusOr<std::unique_ptr<ServerMetrics>> Create(
      prometheus::Registry* registry, const ServerMetricsOptions& options);

  // What /metrics serves: the registry.
  std::vector<const prometheus::Collectable*> Collectables() const;

  // One RPC finished: observes its duration and, when code != "OK", counts an
  // error.
  void ObserveRequest(absl::string_view method, absl::string_view code,
                      double seconds);
  void CountEviction(absl::string_view from_tier, absl::string_view to_tier);
  void CountRestore(absl::string_view result);
  // result: "deleted", "kept" or "failed".
  void CountExpiry(absl::string_view result);
  // operation: "save" or "restore".
  void ObserveCheckpoint(absl::string_view operation, double seconds,
                         double bytes);
  // kind: "export", "offload" or "drain"; code: a gRPC code name.
  void CountSaveFailure(absl::string_view kind, absl::string_view code);
  // from: "host" or "disk" (kTierHost, kTierDisk).
  void ObservePromotion(absl::string_view from_tier, double seconds);
  // how: "spare" or "download".
  void ObserveSnapshot(absl::string_view how, double seconds);
  void CountDeferredSnapshot();
  // One engine step (one ForwardBatch): hecate_step_duration_seconds, and
  // hecate_step_tokens{kind} for each kind with tokens > 0 in it. The same as
  // observing the pointers below; no family lookup.
  void ObserveStep(double seconds, int64_t decode_tokens, int64_t prefill_tokens);

  // hecate_user_tokens_total{user, direction} of one user, resolved once: the
  // engine loop can keep these per session (or per chunk) and pay one atomic
  // add per update instead of a family lookup. Valid as long as this object.
  struct UserTokens {
    prometheus::Counter* in = nullptr;
    prometheus::Counter* out = nullptr;
  };
  // `user` must come from the key file (see hecate_user_tokens_total above).
  UserTokens ForUser(absl::string_view user);
  // `in` bytes fed and `out` tokens generated for `user`; a family lookup per
  // call (a mutex and a hash): once per chunk is fine, once per token is not
  // (use ForUser).
  void CountUserTokens(absl::string_view user, uint64_t in, uint64_t out);

  prometheus::Registry* registry = nullptr;
  // Per RPC.
  std::unique_ptr<Family<prometheus::Histogram>> request_duration_seconds;  // {method, code}
  std::unique_ptr<Family<prometheus::Counter>> errors_total;                // {method, code}
  // Per chunk and token: resolved children, one prometheus-cpp call each.
  prometheus::Histogram* chunk_forward_duration_seconds = nullptr;
  prometheus::Summary* chunk_latency_seconds = nullptr;
  prometheus::Histogram* time_to_first_token_seconds = nullptr;
  prometheus::Histogram* inter_token_latency_seconds = nullptr;
  prometheus::Counter* tokens_in = nullptr;   // hecate_tokens_total{direction="in"}
  prometheus::Counter* tokens_out = nullptr;  // hecate_tokens_total{direction="out"}
  std::unique_ptr<UpDownGauge> active_streams;
  prometheus::Histogram* batch_size = nullptr;
  // Per engine step and chunk, for the engine loop to observe (the catalogue
  // registers them; nothing in the metrics code observes them):
  //   queue_wait_seconds->Observe(seconds)   once per chunk, at its first step
  //   step_duration_seconds->Observe(s)      once per ForwardBatch
  //   step_tokens_decode->Observe(n)         n > 0 decode tokens in the step
  //   step_tokens_prefill->Observe(n)        n > 0 prefill tokens in the step
  prometheus::Histogram* queue_wait_seconds = nullptr;     // hecate_queue_wait_seconds
  prometheus::Histogram* step_duration_seconds = nullptr;  // hecate_step_duration_seconds
  prometheus::Histogram* step_host_seconds = nullptr;      // hecate_step_host_seconds
  prometheus::Histogram* step_tokens_decode = nullptr;     // hecate_step_tokens{kind="decode"}
  prometheus::Histogram* step_tokens_prefill = nullptr;    // hecate_step_tokens{kind="prefill"}
  std::unique_ptr<Family<prometheus::Histogram>> promotion_duration_seconds;  // {from}
  std::unique_ptr<Family<prometheus::Histogram>> snapshot_duration_seconds;   // {how}
  prometheus::Counter* snapshots_deferred_total = nullptr;
  std::unique_ptr<Family<prometheus::Counter>> user_tokens_total;  // {user, direction}
  // Per tier, indexed as kTierNames (present from the start, at 0).
  prometheus::Gauge* sessions[kTiers] = {};     // hecate_sessions{tier}
  prometheus::Gauge* state_bytes[kTiers] = {};  // hecate_state_bytes{tier}
  std::unique_ptr<Family<prometheus::Counter>> session_evictions_total;    // {from, to}
  std::unique_ptr<Family<prometheus::Counter>> session_expiries_total;     // {result}
  prometheus::Gauge* pinned_sessions = nullptr;  // hecate_pinned_sessions
  std::unique_ptr<Family<prometheus::Counter>> checkpoint_restores_total;  // {result}
  std::unique_ptr<Family<prometheus::Histogram>> checkpoint_duration_seconds;  // {operation}
  std::unique_ptr<Family<prometheus::Histogram>> checkpoint_size_bytes;        // {operation}
  std::unique_ptr<Family<prometheus::Counter>> checkpoint_save_failures_total;  // {kind, code}
  std::unique_ptr<Family<prometheus::Gauge>> build_info;  // {version, backend}, value 1
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_HECATE_METRICS_H_
