// SharedSessions: sessions that survive their replica. Several hecated
// replicas share one directory (network storage, ReadWriteMany); each writes
// the sessions it holds there, and any replica adopts a session it does not
// hold when a request for it arrives (after its replica drained, crashed or
// left the proxy's ring).
//
// Layout under options.root (<--checkpoint_dir>/replicas):
//   users/<user>/sessions/<id>.ckpt, .meta   the latest checkpoint of each
//                                            session, as a state dir holds
//                                            them (checkpoint_file.h)
//   ids/<id>                                 the id is taken (its owner);
//                                            created with O_EXCL
//   leases/<id>.lease, <id>.want             who holds it (lease_file.h)
//
// Promises:
//   - one owner: a replica serves a session only while it holds its lease;
//     a second replica asking for a held session gets UNAVAILABLE (and asks
//     the holder to hand it over, which the holder does at its next tick when
//     the session is idle);
//   - ownership per user: a session is adopted only by its owner's request;
//     another user's id is NOT_FOUND exactly as a missing one;
//   - verification: an adopted session goes through SessionStore's
//     LoadFromStateDir (format, CRCs, fingerprint, pulse-id invariants,
//     signature with a checkpoint key, transcript digest); a file that fails
//     is refused and left in place;
//   - durability: Tick writes every held session whose pulse id, counters
//     or flags (keep_on_expiry, pinned) moved since its last write (so a
//     crash loses at most checkpoint_interval of input), PublishDrained
//     after a drain writes every session and releases every lease (nothing
//     lost); the adopter gets the flags with the session's metadata;
//   - the adopter learns the pulse id the session resumed at (Adopt's
//     result; the server sends it as x-hecate-resumed-pulse).
//
// Thread safety: every method may be called concurrently.
#ifndef HECATE_SESSIONS_SHARED_SESSIONS_H_
#define HECATE_SESSIONS_SHARED_SESSIONS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sessions/checkpoint_file.h"
#include "sessions/lease_file.h"
#include "sessions/session_store.h"

namespace hecate {

struct SharedSessionsOptions {
  std::string root;        // shared by every replica
  std::string replica_id;  // unique per replica (pod name)
  absl::Duration lease_duration = absl::Seconds(30);
  absl::Duration checkpoint_interval = absl::Seconds(10);
};

class SharedSessions {
 public:
  // `store` must have a state directory and outlive this.
  static absl::StatusOr<std::unique_ptr<SharedSessions>> Open(SessionStore* store,
                                                              SharedSessionsOptions options);

  const SharedSessionsOptions& options() const { return options_; }

  // Makes sure `id` of `owner` is held here: nullopt when it already was,
  // the pulse id it resumed at when adopted now. NOT_FOUND as the store's
  // own (no such session of this owner anywhere), UNAVAILABLE while another
  // replica holds it, verification errors as LoadFromStateDir reports them.
  absl::StatusOr<std::optional<uint64_t>> EnsureHere(absl::string_view id,
                                                     absl::string_view owner);

  // Before creating a session with `id`: takes the id (ALREADY_EXISTS when
  // any replica's session has it) and its lease.
  absl::Status Reserve(absl::string_view id, absl::string_view owner);
  // After a session was created here (with a reserved id, or restored under
  // a fresh one): held from now on, written at the next tick.
  absl::Status Track(absl::string_view id, absl::string_view owner);
  // After the session was deleted here (or its creation failed): its files,
  // id and lease are removed.
  void Forget(absl::string_view id, absl::string_view owner);

  // Renews the leases, writes sessions that changed (every
  // checkpoint_interval), hands over sessions another replica asked for,
  // drops sessions whose lease was lost. Run by the thread of Start.
  void Tick(absl::Time now);
  // At startup, after LoadFromStateDir: sessions found in the local state
  // dir are kept when their lease can be taken and the shared copy is not
  // newer, otherwise dropped here (the shared copy wins).
  void ClaimLocalSessions();
  // After SessionStore::CheckpointAll: writes every held session's drained
  // files to the shared directory, removes the local ones, releases every
  // lease. Returns how many were published; errors name the sessions.
  absl::StatusOr<int> PublishDrained();

  // Writing a session claims it (as any writer does), so a request arriving
  // meanwhile is ABORTED. PublishEpoch before such a request and
  // WaitForPublish after its ABORTED tell whether a write of ours was the
  // cause: then WaitForPublish waits until that write is over and returns
  // true (run the request again); false means another writer holds it.
  uint64_t PublishEpoch(absl::string_view id) const;
  bool WaitForPublish(absl::string_view id, uint64_t epoch_before) const;

  void Start();
  void Stop();
  ~SharedSessions();

 private:
  struct Held {
    std::string owner;
    uint64_t written_pulse = 0;
    uint64_t written_tokens = 0;
    bool written = false;
    uint8_t written_flags = 0;  // Flags() of what was written
  };
  // keep_on_expiry and pinned as bits, to tell whether they changed.
  static uint8_t Flags(const SessionInfo& info) {
    return (info.keep_on_expiry ? 1 : 0) | (info.pinned ? 2 : 0);
  }
  SharedSessions(SessionStore* store, SharedSessionsOptions options, CheckpointDir local,
                 CheckpointDir shared, LeaseDir leases);

  absl::StatusOr<uint64_t> Adopt(absl::string_view id, absl::string_view owner);
  // Writes the session's checkpoint and metadata to the shared directory
  // (PublishClaimed), counting the write in publish_epoch_.
  absl::Status Publish(const std::string& id, Held* held);
  absl::Status PublishClaimed(const std::string& id, Held* held);
  std::string IdPath(absl::string_view id) const;
  // The owner named by ids/<id>, NOT_FOUND when the id is free.
  absl::StatusOr<std::string> IdOwner(absl::string_view id) const;
  void Untrack(const std::string& id);

  SessionStore* const store_;
  const SharedSessionsOptions options_;
  const CheckpointDir local_;
  const CheckpointDir shared_;
  LeaseDir leases_;

  absl::Mutex adopt_mu_;  // one adoption at a time (LoadFromStateDir)
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Held> held_ ABSL_GUARDED_BY(mu_);
  // Per session: odd while Publish writes it, incremented at start and end.
  absl::flat_hash_map<std::string, uint64_t> publish_epoch_ ABSL_GUARDED_BY(mu_);
  mutable absl::CondVar publish_done_;
  absl::Time next_checkpoint_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_SHARED_SESSIONS_H_
