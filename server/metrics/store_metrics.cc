#include "server/metrics/store_metrics.h"

namespace hecate::metrics {
namespace {

static_assert(kTiers == kResidencyTiers, "one gauge per residency tier");
static_assert(static_cast<int>(Residency::kDevice) == 0 &&
                  static_cast<int>(Residency::kHost) == 1 &&
                  static_cast<int>(Residency::kDisk) == 2,
              "kTierNames is indexed by Residency");

const char* TierName(Residency tier) { return kTierNames[static_cast<int>(tier)]; }

// The hecate_checkpoint_save_failures_total{kind} of a checkpoint written;
// empty for reads.
absl::string_view SaveKind(CheckpointEvent::Kind kind) {
  switch (kind) {
    case CheckpointEvent::Kind::kExport: return "export";
    case CheckpointEvent::Kind::kOffload: return "offload";
    case CheckpointEvent::Kind::kDrain: return "drain";
    default: return "";
  }
}

}  // namespace

absl::string_view StoreMetrics::RestoreResult(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return "ok";
    case absl::StatusCode::kDataLoss: return "data_loss";
    case absl::StatusCode::kFailedPrecondition: return "failed_precondition";
    case absl::StatusCode::kInvalidArgument: return "invalid_argument";
    case absl::StatusCode::kNotFound: return "not_found";
    default: return "other";
  }
}

void StoreMetrics::OnTierUsage(const TierUsage& usage) {
  for (int tier = 0; tier < kTiers; ++tier) {
    metrics_->sessions[tier]->Set(static_cast<double>(usage.sessions[tier]));
    metrics_->state_bytes[tier]->Set(static_cast<double>(usage.bytes[tier]));
  }
  metrics_->pinned_sessions->Set(static_cast<double>(usage.pinned_sessions));
}

void StoreMetrics::OnExpiry(ExpiryResult result) {
  switch (result) {
    case ExpiryResult::kDeleted: metrics_->CountExpiry("deleted"); break;
    case ExpiryResult::kKept: metrics_->CountExpiry("kept"); break;
    case ExpiryResult::kFailed: metrics_->CountExpiry("failed"); break;
  }
}

void StoreMetrics::OnPromotion(Residency from, absl::Duration duration) {
  metrics_->ObservePromotion(TierName(from), absl::ToDoubleSeconds(duration));
}

void StoreMetrics::OnSnapshot(const SnapshotEvent& event) {
  switch (event.how) {
    case SnapshotEvent::How::kSpare:
      metrics_->ObserveSnapshot("spare", absl::ToDoubleSeconds(event.duration));
      break;
    case SnapshotEvent::How::kDownload:
      metrics_->ObserveSnapshot("download", absl::ToDoubleSeconds(event.duration));
      break;
    case SnapshotEvent::How::kDeferred:
      metrics_->CountDeferredSnapshot();
      break;
  }
}

void StoreMetrics::OnEviction(Residency from, Residency to) {
  metrics_->CountEviction(TierName(from), TierName(to));
}

void StoreMetrics::OnCheckpoint(const CheckpointEvent& event) {
  using Kind = CheckpointEvent::Kind;
  if (event.kind == Kind::kRestore) metrics_->CountRestore(RestoreResult(event.code));
  if (event.code != absl::StatusCode::kOk) {
    if (absl::string_view kind = SaveKind(event.kind); !kind.empty()) {
      metrics_->CountSaveFailure(kind, absl::StatusCodeToString(event.code));
    }
    return;
  }
  const bool restore = event.kind == Kind::kRestore || event.kind == Kind::kReload;
  metrics_->ObserveCheckpoint(restore ? "restore" : "save", absl::ToDoubleSeconds(event.duration),
                              static_cast<double>(event.bytes));
}

}  // namespace hecate::metrics
