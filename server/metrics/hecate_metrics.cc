#include "server/metrics/hecate_metrics.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace hecate::metrics {
namespace {

// Unwraps a StatusOr into *out, or returns its error from the caller.
#define HECATE_ASSIGN_OR_RETURN_METRIC(out, expr) \
  do {                                            \
    auto result_ = (expr);                        \
    if (!result_.ok()) return result_.status();   \
    (out) = *result_;                             \
  } while (false)

absl::StatusOr<Histogram::Options> Exponential(double start, double factor,
                                               int count) {
  absl::StatusOr<std::vector<double>> bounds =
      ExponentialBuckets(start, factor, count);
  if (!bounds.ok()) return bounds.status();
  return Histogram::Options{*std::move(bounds)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(
    MetricRegistry* registry, const ServerMetricsOptions& options) {
  if (registry == nullptr) {
    return absl::InvalidArgumentError("ServerMetrics needs a registry");
  }
  auto m = std::make_unique<ServerMetrics>();

  // Buckets: powers of two wide enough for a CPU tiny model and a GPU alike.
  Histogram::Options rpc_buckets, chunk_buckets, token_buckets, batch_buckets,
      checkpoint_seconds_buckets, checkpoint_bytes_buckets;
  HECATE_ASSIGN_OR_RETURN_METRIC(rpc_buckets, Exponential(0.0005, 2, 18));  // 0.5 ms..65 s
  HECATE_ASSIGN_OR_RETURN_METRIC(chunk_buckets, Exponential(0.0001, 2, 18));  // 0.1 ms..13 s
  HECATE_ASSIGN_OR_RETURN_METRIC(token_buckets, Exponential(0.00001, 2, 18));  // 10 us..1.3 s
  HECATE_ASSIGN_OR_RETURN_METRIC(batch_buckets, Exponential(1, 2, 10));  // 1..512
  HECATE_ASSIGN_OR_RETURN_METRIC(checkpoint_seconds_buckets, Exponential(0.001, 2, 16));  // 1 ms..33 s
  HECATE_ASSIGN_OR_RETURN_METRIC(checkpoint_bytes_buckets, Exponential(1024, 4, 12));  // 1 KiB..4 GiB

  HECATE_ASSIGN_OR_RETURN_METRIC(
      m->request_duration_seconds,
      registry->AddHistogram(
          "hecate_request_duration_seconds",
          "Duration of gRPC calls from arrival to final status, by method and "
          "gRPC code; for streaming calls the whole stream.",
          {"method", "code"}, rpc_buckets));
  HECATE_ASSIGN_OR_RETURN_METRIC(
      m->errors_total,
      registry->AddCounter("hecate_errors_total",
                           "gRPC calls that ended with a code other than OK.",
                           {"method", "code"}));

  Family<Histogram>* family = nullptr;
  HECATE_ASSIGN_OR_RETURN_METRIC(
      family, registry->AddHistogram(
                  "hecate_chunk_forward_duration_seconds",
                  "Backend forward pass over one chunk of input bytes.", {},
                  chunk_buckets));
  HECATE_ASSIGN_OR_RETURN_METRIC(m->chunk_forward_duration_seconds,
                                 family->WithLabels({}));

  SlidingWindowSummary::Options window;
  window.window = options.chunk_latency_window;
  window.clock_nanos = options.clock_nanos;
  Family<SlidingWindowSummary>* summary = nullptr;
  HECATE_ASSIGN_OR_RETURN_METRIC(
      summary,
      registry->AddSummary(
          "hecate_chunk_latency_seconds",
          absl::StrCat("Latency of one chunk from request to reply; quantiles "
                       "over the last ",
                       absl::FormatDuration(options.chunk_latency_window),
                       ", _sum and _count since start."),
          {}, window));
  HECATE_ASSIGN_OR_RETURN_METRIC(m->chunk_latency_seconds,
                                 summary->WithLabels({}));

  HECATE_ASSIGN_OR_RETURN_METRIC(
      family, registry->AddHistogram(
                  "hecate_time_to_first_token_seconds",
                  "From a generation request to its first sampled token sent.",
                  {}, chunk_buckets));
  HECATE_ASSIGN_OR_RETURN_METRIC(m->time_to_first_token_seconds,
                                 family->WithLabels({}));
  HECATE_ASSIGN_OR_RETURN_METRIC(
      family, registry->AddHistogram(
                  "hecate_inter_token_latency_seconds",
                  "Between consecutive generated tokens of one generation.",
                  {}, token_buckets));
  HECATE_ASSIGN_OR_RETURN_METRIC(m->inter_token_latency_seconds,
                                 family->WithLabels({}));

  Family<Counter>* tokens = nullptr;
  HECATE_ASSIGN_OR_RETURN_METRIC(
      tokens, registry->AddCounter(
                  "hecate_tokens_total",
                  "Tokens (bytes) processed: direction=\"in\" fed by clients, "
                  "\"out\" generated. Tokens/s: rate(hecate_tokens_total[1m]).",
                  {"direction"}));
  HECATE_ASSIGN_OR_RETURN_METRIC(m->tokens_in, tokens->WithLabels({"in"}));
  HECATE_ASSIGN_OR_RETURN_METRIC(m->tokens_out, tokens->WithLabels({"out"}));

  Family<Gauge>* gauge = nullptr;
  HECATE_ASSIGN_OR_RETURN_METRIC(
      gauge, registry->AddGauge("hecate_active_streams",
                                "Open Stream and Generate calls."));
  HECATE_ASSIGN_OR_RETURN_METRIC(m->active_streams, gauge->WithLabels({}));

  HECATE_ASSIGN_OR_RETURN_METRIC(
      family, registry->AddHistogram(
                  "hecate_batch_size",
                  "Sessions per batched forward call (1 without batching).",
                  {}, batch_buckets));
  HECATE_ASSIGN_OR_RETURN_METRIC(m->batch_size, family->WithLabels({}));

  HECATE_ASSIGN_OR_RETURN_METRIC(
      m->sessions,
      registry->AddCallbackGauge(
          "hecate_sessions",
          "Live sessions per residency tier (device, host, disk).", {"tier"}));
  HECATE_ASSIGN_OR_RETURN_METRIC(
      m->state_bytes,
      registry->AddCallbackGauge("hecate_state_bytes",
                                 "Bytes of session state per residency tier.",
                                 {"tier"}));
  HECATE_ASSIGN_OR_RETURN_METRIC(
      m->session_evictions_total,
      registry->AddCounter("hecate_session_evictions_total",
                           "Sessions moved down a residency tier.",
                           {"from", "to"}));
  HECATE_ASSIGN_OR_RETURN_METRIC(
      m->checkpoint_restores_total,
      registry->AddCounter(
          "hecate_checkpoint_restores_total",
          "Checkpoint restores by result: ok, or the reason they failed.",
          {"result"}));
  HECATE_ASSIGN_OR_RETURN_METRIC(
      m->checkpoint_duration_seconds,
      registry->AddHistogram("hecate_checkpoint_duration_seconds",
                             "Writing (save) or verifying and loading "
                             "(restore) one checkpoint.",
                             {"operation"}, checkpoint_seconds_buckets));
  HECATE_ASSIGN_OR_RETURN_METRIC(
      m->checkpoint_size_bytes,
      registry->AddHistogram("hecate_checkpoint_size_bytes",
                             "Size of checkpoint files saved or restored.",
                             {"operation"}, checkpoint_bytes_buckets));

  HECATE_ASSIGN_OR_RETURN_METRIC(
      m->build_info,
      registry->AddGauge("hecate_build_info",
                         "Constant 1; labels name the version and backend.",
                         {"version", "backend"}));
  Gauge* info = nullptr;
  HECATE_ASSIGN_OR_RETURN_METRIC(
      info, m->build_info->WithLabels({options.version, options.backend}));
  info->Set(1);
  return m;
}

#undef HECATE_ASSIGN_OR_RETURN_METRIC

void ServerMetrics::ObserveRequest(absl::string_view method,
                                   absl::string_view code, double seconds) {
  if (absl::StatusOr<Histogram*> h =
          request_duration_seconds->WithLabels({method, code});
      h.ok()) {
    (*h)->Observe(seconds);
  }
  if (code != "OK") {
    if (absl::StatusOr<Counter*> c = errors_total->WithLabels({method, code});
        c.ok()) {
      (*c)->Increment();
    }
  }
}

void ServerMetrics::CountEviction(absl::string_view from_tier,
                                  absl::string_view to_tier) {
  if (absl::StatusOr<Counter*> c =
          session_evictions_total->WithLabels({from_tier, to_tier});
      c.ok()) {
    (*c)->Increment();
  }
}

void ServerMetrics::CountRestore(absl::string_view result) {
  if (absl::StatusOr<Counter*> c = checkpoint_restores_total->WithLabels({result});
      c.ok()) {
    (*c)->Increment();
  }
}

void ServerMetrics::ObserveCheckpoint(absl::string_view operation,
                                      double seconds, double bytes) {
  if (absl::StatusOr<Histogram*> h =
          checkpoint_duration_seconds->WithLabels({operation});
      h.ok()) {
    (*h)->Observe(seconds);
  }
  if (absl::StatusOr<Histogram*> h = checkpoint_size_bytes->WithLabels({operation});
      h.ok()) {
    (*h)->Observe(bytes);
  }
}

}  // namespace hecate::metrics
