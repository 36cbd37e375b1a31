// NamedCheckpointStore: the checkpoints users store by name
// (ExportCheckpoint with a name), kept within two limits so that one user
// can neither crowd out the others nor fill the disk the daemon needs for
// its own session files:
//
//   * a per-user quota: the bytes of a user's named checkpoints, the one
//     being written included (a checkpoint replacing one of the same name
//     counts once), never exceed limits.quota_bytes_per_user;
//   * a reserve: a named checkpoint is written only while the filesystem
//     keeps limits.reserved_bytes free beyond it, room that offload and
//     drain (session files) may use and named checkpoints may not.
//
// A write that either limit refuses is RESOURCE_EXHAUSTED naming the limit,
// the user's usage (or the free space) and the checkpoint's size, and
// writes nothing. Usage is read from the directory itself (every user's
// users/<user>/checkpoints/), so it survives restarts and counts what other
// replicas sharing the directory stored; writes in flight in this process
// count too, so concurrent exports cannot overrun the quota together.
//
// Isolation: every method takes the calling user and only ever touches that
// user's folder; another user's name reads exactly like a missing one
// (NOT_FOUND "no checkpoint named '...'").
//
// Layout and atomic writes are CheckpointDir's (checkpoint_file.h); this
// class adds only sizes, listing with details, deletion and the limits.
//
//   NamedCheckpointStore named(*CheckpointDir::Open(dir), {256 << 20, 1 << 30});
//   absl::Status s = named.Write("alice", "before-edit", bytes);
//   absl::StatusOr<std::vector<NamedCheckpointInfo>> mine = named.List("alice");
//
// Thread safety: every method may be called concurrently.
#ifndef HECATE_SESSIONS_NAMED_CHECKPOINTS_H_
#define HECATE_SESSIONS_NAMED_CHECKPOINTS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sessions/checkpoint_file.h"
#include "sessions/free_space.h"

namespace hecate {

inline constexpr uint64_t kDefaultCheckpointQuotaBytesPerUser = uint64_t{256} << 20;

struct NamedCheckpointLimits {
  // Bytes of named checkpoints one user may store.
  uint64_t quota_bytes_per_user = kDefaultCheckpointQuotaBytesPerUser;
  // Free bytes a named checkpoint must leave on its filesystem.
  uint64_t reserved_bytes = 0;
  // How free space is measured; null: FilesystemFreeBytes.
  FreeSpaceFn free_space;
};

// One stored checkpoint, as ListCheckpoints shows it.
struct NamedCheckpointInfo {
  std::string name;
  uint64_t size_bytes = 0;
  // When this version of it was written.
  absl::Time created;
  // The pulse id in its header (whose CRC is checked); nullopt when the
  // header is unreadable (the file is reported, not hidden).
  std::optional<uint64_t> pulse_id;
};

class NamedCheckpointStore {
 public:
  NamedCheckpointStore(CheckpointDir dir, NamedCheckpointLimits limits);

  const NamedCheckpointLimits& limits() const { return limits_; }
  const std::string& root() const { return dir_.root(); }

  // Stores `bytes` as the user's checkpoint `name` (replacing one of that
  // name atomically) when the quota and the reserve allow it; otherwise
  // RESOURCE_EXHAUSTED and nothing is written. INVALID_ARGUMENT for a bad
  // user or name; write errors as WriteFileAtomically.
  absl::Status Write(absl::string_view user, absl::string_view name, absl::string_view bytes);
  // The checkpoint's bytes; NOT_FOUND "no checkpoint named ..." when the
  // user has none by that name.
  absl::StatusOr<std::string> Read(absl::string_view user, absl::string_view name,
                                   size_t max_bytes) const;
  // The user's checkpoints, by name.
  absl::StatusOr<std::vector<NamedCheckpointInfo>> List(absl::string_view user) const;
  // Removes the user's checkpoint `name` (durably); NOT_FOUND as Read.
  absl::Status Delete(absl::string_view user, absl::string_view name);
  // Bytes of the user's stored checkpoints.
  absl::StatusOr<uint64_t> UsedBytes(absl::string_view user) const;
  // (user, bytes) for every user with stored checkpoints, in no particular
  // order: the startup scan.
  absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> UsageByUser() const;
  // Temporary files of crashed writers (CheckpointDir::RemoveStaleTempFiles).
  size_t RemoveStaleTempFiles(absl::Duration min_age) const {
    return dir_.RemoveStaleTempFiles(min_age);
  }

 private:
  // users/<user>/checkpoints (user validated); the folder may not exist.
  absl::StatusOr<std::string> UserFolder(absl::string_view user) const;
  // The user's stored bytes, leaving out the checkpoints for which `skip`
  // is true.
  absl::StatusOr<uint64_t> StoredBytes(
      absl::string_view user, const std::function<bool(const std::string&)>& skip) const;
  // RESOURCE_EXHAUSTED unless `size` more bytes fit the user's quota and the
  // reserve; on OK the bytes are counted as in flight until Finish.
  absl::Status Reserve(absl::string_view user, absl::string_view name, uint64_t size);
  void Finish(absl::string_view user, absl::string_view name, uint64_t size);

  const CheckpointDir dir_;
  const NamedCheckpointLimits limits_;

  // Writes under way: the bytes count from Reserve until Finish, in place
  // of any file of the same name (which a finished write may already have
  // renamed into place), so a user's usage is never counted twice or missed.
  struct InFlight {
    uint64_t bytes = 0;
    int writers = 0;
  };
  absl::Mutex mu_;
  // user -> checkpoint name -> writes under way.
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, InFlight>> in_flight_
      ABSL_GUARDED_BY(mu_);
  uint64_t in_flight_total_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_NAMED_CHECKPOINTS_H_
