#include "server/metrics/hecate_metrics.h"

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "prometheus/check_names.h"

namespace hecate::metrics {
namespace {

using prometheus::Counter;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::Summary;

// The registration helpers below are what deploy/metric_catalogue.py reads:
// AddX(registry, "name", "help", {"label", ...}, ...). They throw
// std::invalid_argument (prometheus-cpp's error) on a bad name or a name the
// registry already holds; Create turns that into a status.

// prometheus-cpp checks metric and label names when it registers or adds;
// these are the checks it leaves out: the label names a summary or histogram
// reserves, and help text it would write unescaped (1.0.1 writes # HELP
// verbatim, so a backslash or newline would break the exposition).
void CheckFamily(const std::string& family, const std::string& help,
                 const std::vector<std::string>& label_names) {
  if (!prometheus::CheckMetricName(family)) {
    throw std::invalid_argument(absl::StrCat("invalid metric name ", family));
  }
  if (help.find_first_of("\\\n") != std::string::npos) {
    throw std::invalid_argument(absl::StrCat(family, ": help text with a backslash or newline"));
  }
  for (const std::string& label : label_names) {
    if (!prometheus::CheckLabelName(label) || label == "le" || label == "quantile") {
      throw std::invalid_argument(absl::StrCat(family, ": invalid label name ", label));
    }
  }
}

template <typename T>
prometheus::Family<T>* Register(prometheus::detail::Builder<T> builder, prometheus::Registry* registry,
                                const std::string& name, const std::string& help,
                                const std::vector<std::string>& label_names) {
  CheckFamily(name, help, label_names);
  return &builder.Name(name).Help(help).Register(*registry);
}

std::unique_ptr<Family<Counter>> AddCounter(prometheus::Registry* registry, const std::string& name,
                                            const std::string& help,
                                            std::vector<std::string> label_names) {
  prometheus::Family<Counter>* family =
      Register(prometheus::BuildCounter(), registry, name, help, label_names);
  return std::make_unique<Family<Counter>>(
      family, std::move(label_names),
      [](prometheus::Family<Counter>& f, const prometheus::Labels& labels) -> Counter& {
        return f.Add(labels);
      });
}

std::unique_ptr<Family<Gauge>> AddGauge(prometheus::Registry* registry, const std::string& name,
                                        const std::string& help,
                                        std::vector<std::string> label_names) {
  prometheus::Family<Gauge>* family =
      Register(prometheus::BuildGauge(), registry, name, help, label_names);
  return std::make_unique<Family<Gauge>>(
      family, std::move(label_names),
      [](prometheus::Family<Gauge>& f, const prometheus::Labels& labels) -> Gauge& {
        return f.Add(labels);
      });
}

std::unique_ptr<Family<Histogram>> AddHistogram(prometheus::Registry* registry,
                                                const std::string& name, const std::string& help,
                                                std::vector<std::string> label_names,
                                                Histogram::BucketBoundaries buckets) {
  prometheus::Family<Histogram>* family =
      Register(prometheus::BuildHistogram(), registry, name, help, label_names);
  return std::make_unique<Family<Histogram>>(
      family, std::move(label_names),
      [buckets = std::move(buckets)](prometheus::Family<Histogram>& f,
                                     const prometheus::Labels& labels) -> Histogram& {
        return f.Add(labels, buckets);
      });
}

std::unique_ptr<Family<Summary>> AddSummary(prometheus::Registry* registry, const std::string& name,
                                            const std::string& help,
                                            std::vector<std::string> label_names,
                                            absl::Duration max_age, int age_buckets) {
  prometheus::Family<Summary>* family =
      Register(prometheus::BuildSummary(), registry, name, help, label_names);
  const std::chrono::milliseconds max_age_ms(absl::ToInt64Milliseconds(max_age));
  return std::make_unique<Family<Summary>>(
      family, std::move(label_names),
      [max_age_ms, age_buckets](prometheus::Family<Summary>& f,
                                const prometheus::Labels& labels) -> Summary& {
        // p50 +-5%, p90 +-1%, p99 +-0.1% in rank.
        return f.Add(labels, Summary::Quantiles{{0.5, 0.05}, {0.9, 0.01}, {0.99, 0.001}},
                     max_age_ms, age_buckets);
      });
}

// start, start*factor, ..., start*factor^(count-1).
Histogram::BucketBoundaries Exponential(double start, double factor, int count) {
  Histogram::BucketBoundaries bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(start * std::pow(factor, i));
  return bounds;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerMetrics>> ServerMetrics::Create(
    prometheus::Registry* registry, const ServerMetricsOptions& options) {
  if (registry == nullptr) {
    return absl::InvalidArgumentError("ServerMetrics needs a registry");
  }
  if (options.chunk_latency_window < absl::Milliseconds(1) ||
      options.chunk_latency_age_buckets < 1) {
    return absl::InvalidArgumentError(
        "chunk latency window must be >= 1 ms with at least one age bucket");
  }
  auto m = std::make_unique<ServerMetrics>();
  m->registry = registry;

  // Buckets: powers of two wide enough for a CPU tiny model and a GPU alike.
  const Histogram::BucketBoundaries rpc_buckets = Exponential(0.0005, 2, 18);  // 0.5 ms..65 s
  const Histogram::BucketBoundaries chunk_buckets = Exponential(0.0001, 2, 18);  // 0.1 ms..13 s
  const Histogram::BucketBoundaries token_buckets = Exponential(0.00001, 2, 18);  // 10 us..1.3 s
  const Histogram::BucketBoundaries batch_buckets = Exponential(1, 2, 10);  // 1..512
  // A GPU step is ~0.1-10 ms, a CPU prefill step can take seconds; queueing
  // under overload likewise.
  const Histogram::BucketBoundaries step_buckets = Exponential(0.00001, 2, 20);  // 10 us..5 s
  // Decode: one per session (up to a few thousand); prefill: up to
  // sessions x chunk bytes.
  const Histogram::BucketBoundaries step_token_buckets = Exponential(1, 2, 18);  // 1..128 Ki
  const Histogram::BucketBoundaries checkpoint_seconds_buckets =
      Exponential(0.001, 2, 16);  // 1 ms..33 s
  const Histogram::BucketBoundaries checkpoint_bytes_buckets =
      Exponential(1024, 4, 12);  // 1 KiB..4 GiB

  try {
    m->request_duration_seconds = AddHistogram(
        registry, "hecate_request_duration_seconds",
        "Duration of gRPC calls from arrival to final status, by method and "
        "gRPC code; for streaming calls the whole stream.",
        {"method", "code"}, rpc_buckets);
    m->errors_total = AddCounter(registry, "hecate_errors_total",
                                 "gRPC calls that ended with a code other than OK.",
                                 {"method", "code"});

    m->chunk_forward_duration_seconds =
        AddHistogram(registry, "hecate_chunk_forward_duration_seconds",
                     "Backend forward pass over one chunk of input bytes.", {}, chunk_buckets)
            ->WithLabels({});
    m->chunk_latency_seconds =
        AddSummary(registry, "hecate_chunk_latency_seconds",
                   absl::StrCat("Latency of one chunk from request to reply; quantiles "
                                "over the last ",
                                absl::FormatDuration(options.chunk_latency_window),
                                ", _sum and _count since start."),
                   {}, options.chunk_latency_window, options.chunk_latency_age_buckets)
            ->WithLabels({});
    m->time_to_first_token_seconds =
        AddHistogram(registry, "hecate_time_to_first_token_seconds",
                     "From a generation request to its first sampled token sent.", {},
                     chunk_buckets)
            ->WithLabels({});
    m->inter_token_latency_seconds =
        AddHistogram(registry, "hecate_inter_token_latency_seconds",
                     "Between consecutive generated tokens of one generation.", {},
                     token_buckets)
            ->WithLabels({});

    std::unique_ptr<Family<Counter>> tokens =
        AddCounter(registry, "hecate_tokens_total",
                   "Tokens (bytes) processed: direction=\"in\" fed by clients, "
                   "\"out\" generated. Tokens/s: rate(hecate_tokens_total[1m]).",
                   {"direction"});
    m->tokens_in = tokens->WithLabels({"in"});
    m->tokens_out = tokens->WithLabels({"out"});

    m->active_streams = std::make_unique<UpDownGauge>(
        AddGauge(registry, "hecate_active_streams", "Open Stream and Generate calls.", {})
            ->WithLabels({}));

    m->batch_size = AddHistogram(registry, "hecate_batch_size",
                                 "Sessions per engine step (one ForwardBatch call).", {},
                                 batch_buckets)
                        ->WithLabels({});

    m->queue_wait_seconds =
        AddHistogram(registry, "hecate_queue_wait_seconds",
                     "From a chunk's arrival to the first engine step that runs it.", {},
                     step_buckets)
            ->WithLabels({});
    m->step_duration_seconds =
        AddHistogram(registry, "hecate_step_duration_seconds",
                     "One engine step: one batched forward call over every session in it.", {},
                     step_buckets)
            ->WithLabels({});
    m->step_host_seconds =
        AddHistogram(registry, "hecate_step_host_seconds",
                     "Host work of one engine step outside the forward call: forming it and "
                     "applying its results (sampling, replies) before the next can start.",
                     {}, step_buckets)
            ->WithLabels({});
    std::unique_ptr<Family<Histogram>> step_tokens =
        AddHistogram(registry, "hecate_step_tokens",
                     "Tokens of one engine step by kind: decode (one sampled token fed back "
                     "per session) or prefill (client input bytes).",
                     {"kind"}, step_token_buckets);
    m->step_tokens_decode = step_tokens->WithLabels({"decode"});
    m->step_tokens_prefill = step_tokens->WithLabels({"prefill"});
    m->promotion_duration_seconds =
        AddHistogram(registry, "hecate_promotion_duration_seconds",
                     "Bringing an idle session back to the device, by the tier it was on "
                     "(host, disk).",
                     {"from"}, step_buckets);
    for (const char* from : {kTierHost, kTierDisk}) {
      m->promotion_duration_seconds->WithLabels({from});  // present from the start, at 0
    }
    m->snapshot_duration_seconds =
        AddHistogram(registry, "hecate_snapshot_duration_seconds",
                     "Time the thread that ended a chunk spent taking a rewind snapshot: spare "
                     "(device copy, downloaded in the background) or download (there).",
                     {"how"}, step_buckets);
    for (const char* how : {"spare", "download"}) {
      m->snapshot_duration_seconds->WithLabels({how});  // present from the start, at 0
    }
    m->snapshots_deferred_total =
        AddCounter(registry, "hecate_snapshots_deferred_total",
                   "Rewind snapshots put off to a later chunk end: every spare device state "
                   "was busy.",
                   {})
            ->WithLabels({});
    m->user_tokens_total =
        AddCounter(registry, "hecate_user_tokens_total",
                   "Tokens (bytes) per user named by --api_keys (anonymous without auth): "
                   "direction=\"in\" fed, \"out\" generated.",
                   {"user", "direction"});

    std::unique_ptr<Family<Gauge>> sessions =
        AddGauge(registry, "hecate_sessions",
                 "Live sessions per residency tier (device, host, disk).", {"tier"});
    std::unique_ptr<Family<Gauge>> state_bytes =
        AddGauge(registry, "hecate_state_bytes", "Bytes of session state per residency tier.",
                 {"tier"});
    for (int tier = 0; tier < kTiers; ++tier) {
      m->sessions[tier] = sessions->WithLabels({kTierNames[tier]});
      m->state_bytes[tier] = state_bytes->WithLabels({kTierNames[tier]});
    }
    m->session_evictions_total =
        AddCounter(registry, "hecate_session_evictions_total",
                   "Sessions moved down a residency tier.", {"from", "to"});
    m->session_expiries_total =
        AddCounter(registry, "hecate_session_expiries_total",
                   "Sessions idle past --session_ttl: deleted, kept (stored by name, then "
                   "deleted) or failed (the checkpoint failed; the session stays).",
                   {"result"});
    for (const char* result : {"deleted", "kept", "failed"}) {
      m->session_expiries_total->WithLabels({result});  // present from the start, at 0
    }
    m->pinned_sessions = AddGauge(registry, "hecate_pinned_sessions",
                                  "Live sessions pinned (never moved below host memory).", {})
                             ->WithLabels({});
    m->checkpoint_restores_total =
        AddCounter(registry, "hecate_checkpoint_restores_total",
                   "Checkpoint restores by result: ok, or the reason they failed.", {"result"});
    m->checkpoint_duration_seconds =
        AddHistogram(registry, "hecate_checkpoint_duration_seconds",
                     "Writing (save) or verifying and loading "
                     "(restore) one checkpoint.",
                     {"operation"}, checkpoint_seconds_buckets);
    m->checkpoint_size_bytes =
        AddHistogram(registry, "hecate_checkpoint_size_bytes",
                     "Size of checkpoint files saved or restored.", {"operation"},
                     checkpoint_bytes_buckets);
    m->checkpoint_save_failures_total =
        AddCounter(registry, "hecate_checkpoint_save_failures_total",
                   "Checkpoints that could not be written, by kind (export, offload, "
                   "drain) and gRPC code.",
                   {"kind", "code"});

    m->build_info = AddGauge(registry, "hecate_build_info",
                             "Constant 1; labels name the version and backend.",
                             {"version", "backend"});
    m->build_info->WithLabels({options.version, options.backend})->Set(1);
  } catch (const std::invalid_argument& e) {
    // prometheus-cpp reports both a bad name and a taken one this way.
    if (absl::StrContains(e.what(), "already exists")) {
      return absl::AlreadyExistsError(absl::StrCat("metrics: ", e.what()));
    }
    return absl::InvalidArgumentError(absl::StrCat("metrics: ", e.what()));
  }
  return m;
}

std::vector<const prometheus::Collectable*> ServerMetrics::Collectables() const {
  return {registry};
}

void ServerMetrics::ObserveRequest(absl::string_view method,
                                   absl::string_view code, double seconds) {
  request_duration_seconds->WithLabels({method, code})->Observe(seconds);
  if (code != "OK") errors_total->WithLabels({method, code})->Increment();
}

void ServerMetrics::CountEviction(absl::string_view from_tier,
                                  absl::string_view to_tier) {
  session_evictions_total->WithLabels({from_tier, to_tier})->Increment();
}

void ServerMetrics::CountExpiry(absl::string_view result) {
  session_expiries_total->WithLabels({result})->Increment();
}

void ServerMetrics::CountRestore(absl::string_view result) {
  checkpoint_restores_total->WithLabels({result})->Increment();
}

void ServerMetrics::CountSaveFailure(absl::string_view kind, absl::string_view code) {
  checkpoint_save_failures_total->WithLabels({kind, code})->Increment();
}

void ServerMetrics::ObservePromotion(absl::string_view from_tier, double seconds) {
  promotion_duration_seconds->WithLabels({from_tier})->Observe(seconds);
}

void ServerMetrics::ObserveSnapshot(absl::string_view how, double seconds) {
  snapshot_duration_seconds->WithLabels({how})->Observe(seconds);
}

void ServerMetrics::CountDeferredSnapshot() { snapshots_deferred_total->Increment(); }

void ServerMetrics::ObserveStep(double seconds, int64_t decode_tokens, int64_t prefill_tokens) {
  step_duration_seconds->Observe(seconds);
  if (decode_tokens > 0) step_tokens_decode->Observe(static_cast<double>(decode_tokens));
  if (prefill_tokens > 0) step_tokens_prefill->Observe(static_cast<double>(prefill_tokens));
}

ServerMetrics::UserTokens ServerMetrics::ForUser(absl::string_view user) {
  return {user_tokens_total->WithLabels({user, "in"}), user_tokens_total->WithLabels({user, "out"})};
}

void ServerMetrics::CountUserTokens(absl::string_view user, uint64_t in, uint64_t out) {
  const UserTokens counters = ForUser(user);
  if (in > 0) counters.in->Increment(static_cast<double>(in));
  if (out > 0) counters.out->Increment(static_cast<double>(out));
}

void ServerMetrics::ObserveCheckpoint(absl::string_view operation,
                                      double seconds, double bytes) {
  checkpoint_duration_seconds->WithLabels({operation})->Observe(seconds);
  checkpoint_size_bytes->WithLabels({operation})->Observe(bytes);
}

}  // namespace hecate::metrics
