// StoreMetrics: hecated's StoreObserver (sessions/store_observer.h), the one
// path from the session store to the metric catalogue. The store calls it as
// things happen; nothing polls the store.
//
//   OnTierUsage   -> hecate_sessions{tier}, hecate_state_bytes{tier} (set)
//                    and hecate_pinned_sessions (set)
//   OnEviction    -> hecate_session_evictions_total{from,to}
//   OnExpiry      -> hecate_session_expiries_total{result} (deleted, kept,
//                    failed)
//   OnPromotion   -> hecate_promotion_duration_seconds{from} (host, disk)
//   OnSnapshot    -> hecate_snapshot_duration_seconds{how} (spare, download);
//                    deferred: hecate_snapshots_deferred_total
//   OnCheckpoint  -> a failed export, offload or drain:
//                    hecate_checkpoint_save_failures_total{kind,code};
//                    kRestore: hecate_checkpoint_restores_total{result}
//                    (RestoreResult below, the one place a status code becomes
//                    a result label); every successful checkpoint:
//                    hecate_checkpoint_duration_seconds / _size_bytes
//                    {operation="save"} (export, offload, drain) or
//                    {operation="restore"} (restore, reload from disk).
//
//   StoreMetrics observer(metrics.get());   // must outlive the store
//   store_options.observer = &observer;
#ifndef HECATE_SERVER_METRICS_STORE_METRICS_H_
#define HECATE_SERVER_METRICS_STORE_METRICS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/metrics/hecate_metrics.h"
#include "sessions/store_observer.h"

namespace hecate::metrics {

class StoreMetrics final : public StoreObserver {
 public:
  // `metrics` must outlive this object.
  explicit StoreMetrics(ServerMetrics* metrics) : metrics_(metrics) {}

  void OnTierUsage(const TierUsage& usage) override;
  void OnEviction(Residency from, Residency to) override;
  void OnCheckpoint(const CheckpointEvent& event) override;
  void OnExpiry(ExpiryResult result) override;
  void OnPromotion(Residency from, absl::Duration duration) override;
  void OnSnapshot(const SnapshotEvent& event) override;

  // The hecate_checkpoint_restores_total{result} label of a restore that
  // ended with `code`: "ok", "data_loss", "failed_precondition",
  // "invalid_argument", "not_found" or "other".
  static absl::string_view RestoreResult(absl::StatusCode code);

 private:
  ServerMetrics* const metrics_;
};

}  // namespace hecate::metrics

#endif  // HECATE_SERVER_METRICS_STORE_METRICS_H_
