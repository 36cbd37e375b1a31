// session_store_options.h: how a SessionStore is configured
// (SessionStoreOptions: limits, tier budgets, where checkpoints live, their
// signing, rewind snapshots) and what is chosen when a session is created
// (CreateOptions). session_store.h describes the tiers, pinning and writing
// these refer to.
#ifndef HECATE_SESSIONS_SESSION_STORE_OPTIONS_H_
#define HECATE_SESSIONS_SESSION_STORE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "sessions/checkpoint_key.h"
#include "sessions/free_space.h"
#include "sessions/named_checkpoints.h"
#include "sessions/store_observer.h"
#include "sessions/transcript.h"

namespace hecate {

struct SessionStoreOptions {
  size_t max_sessions_total = 1024;
  size_t max_sessions_per_user = 8;
  // Pinned sessions per user (session_store.h, Pinning).
  size_t max_pinned_sessions_per_user = 4;
  // Soft budgets of resident state bytes per tier (session_store.h).
  size_t device_budget_bytes = size_t{1} << 30;
  size_t host_budget_bytes = size_t{4} << 30;
  // False where the backend's device memory is host memory (the CPU
  // backend): idle sessions then go from the device straight to disk.
  bool host_tier = true;
  // Where checkpoints live (checkpoint_file.h). Empty: no disk tier, no
  // named checkpoints, no drain.
  std::string state_dir;
  // Where checkpoints stored by name live, when not under state_dir: a
  // directory shared by several replicas (network storage) lets a session
  // exported by name on one replica be restored on any other. Session files
  // (offload, drain) always stay in state_dir, which is this replica's own.
  std::string checkpoint_dir;
  // Bytes of named checkpoints one user may store (named_checkpoints.h).
  uint64_t checkpoint_quota_bytes_per_user = kDefaultCheckpointQuotaBytesPerUser;
  // Free bytes that named checkpoints must leave for session files on the
  // state directory's filesystem. nullopt: room for max_sessions_total
  // session files. Not applied when checkpoint_dir is on another filesystem.
  std::optional<uint64_t> reserved_state_bytes;
  // Checkpoint signatures (checkpoint_key.h): with a key every checkpoint
  // this store writes (exports, named, offloaded and drained session files)
  // is signed, and every one it reads (restores, reloads, LoadFromStateDir)
  // must carry a valid signature by that key, unless allow_unsigned admits
  // unsigned ones. Without a key: unsigned, as before keys existed.
  CheckpointSigning checkpoint_signing;
  // How free space is measured (tests stand in for a small disk); null:
  // FilesystemFreeBytes.
  FreeSpaceFn free_space;
  // A second writer waits instead of getting ABORTED.
  bool wait_for_lock = false;
  // Journal bytes kept per session (transcript.h); older ones are dropped.
  size_t max_journal_bytes = kDefaultMaxJournalBytes;
  // Rewind snapshots (snapshots.h): one every snapshot_interval pulses, at
  // most max_snapshot_bytes of them per session (nullopt: twice the state;
  // 0: none, so nothing before the current pulse can be reached).
  uint64_t snapshot_interval = 4096;
  std::optional<size_t> max_snapshot_bytes;
  // Chunks with at least this many tokens are snapshotted so that
  // cancellation and errors can roll them back.
  size_t snapshot_min_tokens = 2;
  // Spare device states kept for those snapshots (session_store.h, Writing); 0:
  // every snapshot is a host copy.
  size_t max_device_chunk_snapshots = 8;
  // Rewind snapshots download in the background (host_copies.h) from a spare
  // device copy, so a whole-state download never holds up the step that
  // took it; a snapshot due while every spare is busy waits for a later
  // chunk end, so where snapshots fall then depends on timing. false: a
  // synchronous host copy exactly every snapshot_interval (where the state
  // already is in host memory, the CPU backend, that costs one memcpy).
  bool background_snapshots = false;
  // ApplyChunkWithRows asks the backend for at most this many tokens' logits
  // at a time (4096 x V=256 floats: 4 MiB).
  size_t logit_rows_per_slice = 4096;
  // Told of tier usage, evictions and checkpoints as they happen
  // (store_observer.h); null: nobody. Must outlive the store.
  StoreObserver* observer = nullptr;
};

// Choices made when a session is created.
struct CreateOptions {
  // Stored as checkpoint ExpiryCheckpointName(id) when it expires.
  bool keep_on_expiry = false;
  // Never moved below host memory by eviction; counts against
  // SessionStoreOptions::max_pinned_sessions_per_user.
  bool pinned = false;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_SESSION_STORE_OPTIONS_H_
