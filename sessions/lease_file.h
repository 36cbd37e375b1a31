// LeaseDir: time-limited, exclusive claims on names (session ids) held by
// replicas in a directory they share, so that at most one replica owns a
// session at any time.
//
// Files under the directory:
//   <name>.lease   "hecate-lease v1 <replica> <nonce> <expiry unix ms>\n"
//   <name>.want    a replica that was refused the lease asks the holder to
//                  hand the session over (the holder's renewal sees it)
//   .tmp-*         a lease being written (never a valid name)
//
// Protocol:
//   Acquire  writes a temporary file and link(2)s it to <name>.lease: link
//            fails with EEXIST when a lease exists, so of several replicas
//            exactly one creates it (O_EXCL semantics, also on NFSv3+).
//            An existing lease of this replica (same replica id: a restarted
//            pod of a StatefulSet) is taken over. An expired lease of another
//            replica is stolen: renamed to a temporary name (one rename
//            wins), re-read to check it is still the expired one (a fresh
//            lease renamed by mistake is linked back), removed, and the link
//            is tried again. A live lease of another replica is UNAVAILABLE
//            naming the holder and its expiry.
//   Renew    re-reads the lease: still ours (same nonce) -> a new expiry is
//            written to a temporary file and renamed over it; someone
//            else's or missing -> FAILED_PRECONDITION (the lease was lost,
//            the caller must stop writing the session and drop it).
//   Release  removes the lease if it is still ours.
//
// Failure modes (docs: deploy/README.md "Replicas"):
//   - a replica that dies keeps its leases until they expire: its sessions
//     are adoptable lease_duration after its last renewal;
//   - expiries are wall-clock times: replicas' clocks must agree to well
//     within the lease duration (NTP);
//   - a holder stalled for longer than the lease (GC pause, frozen VM) may
//     find its lease stolen; Renew then reports the loss before the next
//     checkpoint write, but a write already under way can land after the new
//     holder read the store (the new holder's own writes replace it);
//   - the directory must give link(2) and rename(2) their POSIX atomicity
//     (local filesystems, NFSv3/v4, CephFS; not object-store FUSE mounts).
#ifndef HECATE_SESSIONS_LEASE_FILE_H_
#define HECATE_SESSIONS_LEASE_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hecate {

// What a lease file says.
struct LeaseRecord {
  std::string replica;
  std::string nonce;
  absl::Time expiry;
};

class LeaseDir {
 public:
  // Creates `dir` when missing. `replica` is validated like a checkpoint
  // name. INVALID_ARGUMENT for a non-positive duration.
  static absl::StatusOr<LeaseDir> Open(std::string dir, std::string replica,
                                       absl::Duration duration);

  const std::string& replica() const { return replica_; }
  absl::Duration duration() const { return duration_; }

  // See the protocol above. `now` is the wall clock (tests pass their own).
  absl::Status Acquire(absl::string_view name, absl::Time now);
  absl::Status Renew(absl::string_view name, absl::Time now);
  absl::Status Release(absl::string_view name);
  // The lease on `name`, NOT_FOUND when there is none.
  absl::StatusOr<LeaseRecord> Read(absl::string_view name) const;

  // Hand-over requests (<name>.want).
  void RequestHandover(absl::string_view name) const;
  bool HandoverRequested(absl::string_view name) const;
  void ClearHandover(absl::string_view name) const;

 private:
  LeaseDir(std::string dir, std::string replica, absl::Duration duration);
  std::string PathOf(absl::string_view name, absl::string_view suffix) const;
  std::string Encode(absl::Time expiry) const;
  // A temporary file holding `content`; its path.
  absl::StatusOr<std::string> WriteTemp(absl::string_view content) const;

  std::string dir_;
  std::string replica_;
  std::string nonce_;  // this process's: a restarted replica has a new one
  absl::Duration duration_;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_LEASE_FILE_H_
