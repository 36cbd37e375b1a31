// StoreObserver: the one path from the SessionStore to whoever watches it
// (hecated's metrics, server/metrics/store_metrics.h; tests). The store calls
// it as things happen; nothing polls the store and the store keeps no
// counters of its own for it.
//
// Promises: OnTierUsage is called after every change of the sessions or
// state bytes on any tier (create, delete, restore, eviction, reload, drain,
// restart), with the store's totals after that change, in the order the
// changes happened (it runs under the store's lock, so it must be quick and
// must not call the store). OnEviction follows every idle session moved down
// a tier by a budget (drain moves are OnCheckpoint kDrain, not evictions).
// OnCheckpoint follows every checkpoint written or read, failures included;
// for kRestore `code` is the restore's result. OnExpiry follows every
// session ExpireIdle handled: deleted, kept (stored by name, then deleted)
// or failed (its checkpoint could not be stored, so it stays). OnPromotion
// follows every session brought back to the device from the host or disk
// tier for use, with the time that took (disk: read, verify and decode too,
// which OnCheckpoint kReload also reports); failed promotions are not
// reported there (a failed reload is, by OnCheckpoint). OnSnapshot follows
// every rewind snapshot that came due at a chunk end (snapshots.h), with
// how it was taken and the time the thread that ended the chunk (the engine
// loop's, under load) spent on it. TierUsage
// also carries the number of pinned sessions. Every method may be called on
// any thread, concurrently (except OnTierUsage, serialised by the store's
// lock); implementations must be thread-safe and must outlive the store.
//
//   class Log : public StoreObserver { ... };
//   Log log;
//   SessionStoreOptions options;
//   options.observer = &log;
#ifndef HECATE_SESSIONS_STORE_OBSERVER_H_
#define HECATE_SESSIONS_STORE_OBSERVER_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "sessions/session.h"

namespace hecate {

// One checkpoint written or read.
struct CheckpointEvent {
  enum class Kind {
    kExport,   // Export (bytes returned and/or stored by name)
    kOffload,  // an idle session written to disk by eviction
    kDrain,    // CheckpointAll
    kReload,   // a disk-resident session read back on use
    kRestore,  // RestoreFromBytes / RestoreFromName (verification included)
  };
  Kind kind;
  size_t bytes = 0;
  absl::Duration duration;
  absl::StatusCode code = absl::StatusCode::kOk;
};

// Live sessions and their resident state bytes per tier (indexed by
// Residency; disk: state bytes), and how many of them are pinned.
struct TierUsage {
  size_t sessions[kResidencyTiers] = {};
  size_t bytes[kResidencyTiers] = {};
  size_t pinned_sessions = 0;
};

// What expiry did with one idle session (SessionStore::ExpireIdle).
enum class ExpiryResult {
  kDeleted,  // deleted
  kKept,     // keep_on_expiry: stored as a named checkpoint, then deleted
  kFailed,   // keep_on_expiry, but the checkpoint failed: the session stays
};

// One rewind snapshot due at a chunk end.
struct SnapshotEvent {
  enum class How {
    kSpare,     // copied into a spare device state, downloaded in the background
    kDownload,  // downloaded on the chunk's thread (no background copies, or
                // no spare could be made)
    kDeferred,  // every spare busy: due again at the session's next chunk end
  };
  How how = How::kDownload;
  absl::Duration duration;  // on the thread that ended the chunk
};

class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  virtual void OnTierUsage(const TierUsage& usage) = 0;
  virtual void OnEviction(Residency from, Residency to) = 0;
  virtual void OnCheckpoint(const CheckpointEvent& event) = 0;
  virtual void OnExpiry(ExpiryResult result) = 0;
  // `from` is kHost or kDisk.
  virtual void OnPromotion(Residency from, absl::Duration duration) = 0;
  virtual void OnSnapshot(const SnapshotEvent& event) = 0;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_STORE_OBSERVER_H_
