// SessionStore: every live session of one daemon — ownership, limits,
// one-writer leases, whole-or-nothing chunks, residency tiers, checkpoints.
//
// Ownership: every call names the calling user. A session id that belongs to
// another user is NOT_FOUND with exactly the message of an id that does not
// exist. Ids are validated (INVALID_ARGUMENT when malformed), users are
// validated like checkpoint names (checkpoint_file.h).
//
// Limits: sessions in total and per user (RESOURCE_EXHAUSTED naming the
// limit, e.g. "session limit per user (8) reached").
//
// Residency: a session's state lives on the device (a BackendState), in host
// memory (a ModelState) or on disk (a checkpoint file in the state
// directory). When a tier is over its byte budget, its least recently used
// idle sessions move down (device -> host -> disk; device -> disk when the
// host tier is off, as on the CPU backend whose "device" is host memory).
// Budgets are soft: busy sessions never move, so a tier may exceed its budget
// while every session on it is in use. Acquire brings a session back to the
// device transparently; no state is lost in either direction.
//
// Writing: Acquire returns a SessionLease, the session's single writer claim
// (a second writer gets ABORTED, or waits when options.wait_for_lock). Chunks
// go through ApplyChunk/ApplyBatch, which apply a chunk whole or not at all:
// chunks of at least options.snapshot_min_tokens tokens are snapshotted
// and rolled back on cancellation or error; shorter chunks run without a
// cancel flag, and if the backend fails after touching the state the
// session is marked damaged (every later use is DATA_LOSS until a restore
// replaces its state). A snapshot is a device-to-device copy (Backend::Copy)
// into a spare state from a pool of at most options.max_device_chunk_snapshots
// states, reused chunk after chunk (their device memory is outside the tier
// budgets); when all are in use it is a host copy (Download), which costs
// far more (a pageable copy of the whole state). Rewind snapshots borrow a
// spare from the same pool while their download runs in the background
// (host_copies.h). A chunk may also be applied
// in slices over several ApplyBatch calls (SlicedChunk, the engine loop's
// chunked prefill), still whole or not at all; it counts as applied when its
// last slice is.
//
// Next-token logits: after every chunk applied (any output, generated tokens
// included) the session keeps the logits of its last token
// (Session::next_logits), which a scored chunk's first byte needs. A chunk that asks
// for none gets the last row computed anyway: one row of logits is a small
// product beside a chunk's forward pass. They stay with the session on every
// tier, are written to the session's metadata file on offload and drain (so
// a restart keeps them), and are unknown after a restore from a checkpoint.
//
// Transcripts: every chunk applied (input and generated tokens alike) is
// appended to the session's transcript (transcript.h): the journal keeps the
// last options.max_journal_bytes bytes, the digest covers every byte. The
// transcript travels in every checkpoint the store writes (format versions 3
// and 4: exports, named checkpoints, offloaded and drained session files),
// so tiers, drain, restart and restores keep it. A restore may name the
// digest it expects (FAILED_PRECONDITION naming both otherwise).
// ReadTranscript returns journal bytes; Fork copies a session (state on the
// device, transcript, next-token logits) into a new one of the same owner.
//
// Checkpoints: Export serialises a session (sessions/checkpoint.h), optionally
// storing it under a per-user name within the user's storage quota and
// outside the disk reserve (named_checkpoints.h; ListCheckpoints and
// DeleteCheckpoint show and free them); Restore* verifies a checkpoint
// completely before it creates or replaces anything. CheckpointAll (drain)
// writes every session to the state directory; LoadFromStateDir (restart)
// finds them again with the same ids, owners and pulse ids.
//
// Disk space: session files (offload, drain) are written only when the
// state directory's filesystem has room for them (options.free_space), so a
// full disk is a clean RESOURCE_EXHAUSTED, never a torn file; every write is
// a temporary file renamed over the old one, so a session's previous file
// stays good until its new one is complete. Named checkpoints leave
// options.reserved_state_bytes free for session files. Drain saves every
// session it can, one by one, and reports each one it could not.
//
// Expiry (session_expiry.cc): ExpireIdle deletes every session idle (not
// used, not claimed) longer than a TTL; a session created with
// keep_on_expiry is first stored as the named checkpoint
// ExpiryCheckpointName(id) ("expired-<id>", within its owner's quota), and
// when that fails it is kept, not deleted, and the failure reported. A
// session busy with a chunk is never expired. The TTL may differ per owner
// (ExpireIdleByOwner: hecated takes a user's session_ttl from the API key
// file, else --session_ttl). ExpirySweeper runs it periodically on a thread
// of its own. The keep_on_expiry flag is set at
// creation or by Update, and is written to the session file's metadata
// (session_metadata.h) on offload, drain and Update, so a session loaded
// after a restart (LoadFromStateDir) or adopted by another replica
// (shared_sessions.h, which goes through the same metadata) keeps it. A
// checkpoint holds no flags: a session restored from one (or forked) starts
// without them, while a restore over an existing session keeps that
// session's.
//
// Pinning: a pinned session is never moved below host memory by eviction
// (device -> host still happens where there is a host tier; where there is
// none it stays on the device), so its tier may stay over budget. Each user
// may hold options.max_pinned_sessions_per_user pinned sessions
// (RESOURCE_EXHAUSTED "pinned session limit per user (N) reached"), set at
// creation or by Update. The pin is kept in the metadata like
// keep_on_expiry, with the same reach: a restart or an adoption keeps it
// (the quota is not applied to sessions found on disk, as no limit is);
// restored and forked sessions are not pinned. Drain still writes pinned
// sessions to disk, and pinned sessions still expire when idle.
//
// Observation: options.observer (store_observer.h) is told of the sessions
// and bytes per tier, evictions and checkpoints as they happen; the store
// keeps no statistics of its own.
//
// Thread safety: every method may be called concurrently. A thread must not
// Acquire a session it already holds a lease on (with wait_for_lock it would
// wait for itself). The store must outlive its leases.
#ifndef HECATE_SESSIONS_SESSION_STORE_H_
#define HECATE_SESSIONS_SESSION_STORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "runtime/backend.h"
#include "sessions/checkpoint_file.h"
#include "sessions/checkpoint_key.h"
#include "sessions/free_space.h"
#include "sessions/host_copies.h"
#include "sessions/named_checkpoints.h"
#include "sessions/session.h"
#include "sessions/session_store_options.h"
#include "sessions/store_observer.h"
#include "sessions/transcript.h"

namespace hecate {

// Room counted for a session file beyond its checkpoint bytes: its metadata
// file and the filesystem's rounding of both to blocks.
inline constexpr size_t kSessionMetadataAllowance = size_t{8} << 10;

// A change of a live session's flags (SessionStore::Update); nullopt leaves
// that flag as it is.
struct SessionUpdate {
  std::optional<bool> keep_on_expiry;
  std::optional<bool> pinned;
};

// The name an expired keep_on_expiry session is stored under.
std::string ExpiryCheckpointName(absl::string_view session_id);

// What one ExpireIdle pass did.
struct ExpiryReport {
  size_t deleted = 0;  // deleted without a checkpoint
  size_t kept = 0;     // stored as a named checkpoint, then deleted
  size_t failed = 0;   // keep_on_expiry, but the checkpoint failed: still live
  std::vector<std::string> errors;  // one line per failure
  // (id, owner) of every session deleted by the pass (deleted and kept).
  std::vector<std::pair<std::string, std::string>> expired;
};

// Whether applied tokens came from the client or from the sampler.
enum class TokenSource { kInput, kGenerated };

class SessionStore;

// The single writer claim on one session, whose state is on the device while
// the lease lives. Move-only; released by its destructor or Release().
class SessionLease {
 public:
  SessionLease() = default;  // holds nothing (valid() is false)
  SessionLease(SessionLease&& other) noexcept;
  SessionLease& operator=(SessionLease&& other) noexcept;
  ~SessionLease();

  bool valid() const { return session_ != nullptr; }
  const std::string& session_id() const;
  uint64_t pulse_id() const;
  SessionInfo info() const;
  // The next-token logits of the session's last forward pass; empty when
  // unknown. Changes with the next chunk applied through this lease.
  const std::vector<float>& next_logits() const;
  void Release();

 private:
  friend class SessionStore;
  SessionLease(SessionStore* store, std::shared_ptr<Session> session);

  SessionStore* store_ = nullptr;
  std::shared_ptr<Session> session_;
};

// A checkpoint made by Export.
struct ExportedCheckpoint {
  std::string bytes;
  uint64_t pulse_id = 0;
  std::string model_fingerprint;
  std::string name;  // the name it was stored under, if any
};

// A copy of a session's state taken before a chunk, to roll the chunk back:
// a spare device state (a device-to-device copy) or, when none is free, a
// host copy. Empty for a chunk too short to be snapshotted.
struct ChunkSnapshot {
  std::unique_ptr<BackendState> device;
  std::unique_ptr<ModelState> host;
  bool empty() const { return device == nullptr && host == nullptr; }
};

// A chunk applied in slices over several ApplyBatch calls, whole or not at
// all: SessionStore::BeginChunk snapshots the session; every ChunkRequest
// naming it applies its next slice; when the last slice is applied the chunk
// counts as applied (pulse id, transcript, next-token logits, counters);
// a failed slice rolls the whole chunk back, and so does AbandonChunk
// (cancellation between slices). Rewind snapshots record the slices as the
// chunking (snapshots.h), so a rewind replays them exactly. Move-only; the
// tokens must outlive it.
class SlicedChunk {
 public:
  SlicedChunk() = default;
  SlicedChunk(SlicedChunk&&) = default;
  SlicedChunk& operator=(SlicedChunk&&) = default;

  // Between BeginChunk and the last slice, a failure or AbandonChunk.
  bool active() const { return active_; }
  size_t size() const { return tokens_.size(); }
  size_t applied() const { return applied_; }
  // The tokens not applied yet.
  absl::Span<const uint8_t> remaining() const { return tokens_.subspan(applied_); }

 private:
  friend class SessionStore;
  bool active_ = false;
  const Session* session_ = nullptr;
  absl::Span<const uint8_t> tokens_;
  TokenSource source_ = TokenSource::kInput;
  size_t applied_ = 0;
  uint64_t pulse_before_ = 0;
  std::vector<uint64_t> slices_;
  ChunkSnapshot snapshot_;
};

// One session's chunk in ApplyBatch.
struct ChunkRequest {
  SessionLease* lease = nullptr;
  absl::Span<const uint8_t> tokens;
  LogitsMode mode = LogitsMode::kLast;
  std::vector<float>* logits = nullptr;
  TokenSource source = TokenSource::kInput;
  // Only with kAll, optional: also hands `*logits` to this after the forward
  // pass, before the chunk counts as applied (its error fails the batch).
  LogitRowsSink rows = nullptr;
  // When set, `tokens` is the next slice of this chunk (its first
  // `tokens.size()` remaining tokens) and `source` is ignored.
  SlicedChunk* sliced = nullptr;
};

// A session drain could not save, and why.
struct UnsavedSession {
  std::string id;
  std::string owner;
  absl::Status status;
};

struct DrainReport {
  size_t written = 0;        // sessions written to disk by this call
  size_t already_on_disk = 0;
  std::vector<UnsavedSession> unsaved;  // lost when the process exits
  std::vector<std::string> errors;  // one line per session that could not be saved
};

struct LoadReport {
  size_t loaded = 0;                // sessions registered (disk-resident)
  size_t already_present = 0;
  size_t stale_temp_files_removed = 0;
  // One line per file skipped, or per session loaded without its metadata
  // (fresh times and counters), with the reason.
  std::vector<std::string> errors;
  // (user, bytes) of stored named checkpoints, for every user with some.
  std::vector<std::pair<std::string, uint64_t>> checkpoint_usage;
};

class SessionStore {
 public:
  // `backend` must outlive the store. INVALID_ARGUMENT for bad options;
  // errors opening options.state_dir pass through.
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(Backend& backend,
                                                            SessionStoreOptions options);
  ~SessionStore();

  const SessionStoreOptions& options() const { return options_; }
  const Model& model() const { return backend_.model(); }

  // A new session at pulse id 0, all-zero state, on the device. A non-empty
  // `id` (proposed by the client, so a proxy can route its creation; 32
  // lowercase hex digits, else INVALID_ARGUMENT) becomes the session's id:
  // ALREADY_EXISTS when a live session, of any user, has it.
  absl::StatusOr<SessionInfo> Create(absl::string_view owner, absl::string_view id = "",
                                     const CreateOptions& create = {});
  absl::StatusOr<SessionInfo> Get(absl::string_view id, absl::string_view owner) const;
  // The owner's sessions, oldest first.
  std::vector<SessionInfo> List(absl::string_view owner) const;
  // Frees the session on every tier. ABORTED when busy (unless waiting).
  absl::Status Delete(absl::string_view id, absl::string_view owner);
  // Sets the flags `update` names (see Expiry and Pinning above) and returns
  // the session as it is then. Claims the session meanwhile (ABORTED when
  // busy, unless waiting). Pinning past the owner's pin quota is
  // RESOURCE_EXHAUSTED and changes nothing. A session on disk has its
  // metadata file rewritten (a failure restores the old flags); pinning does
  // not move a session, it only keeps eviction from moving it to disk later.
  absl::StatusOr<SessionInfo> Update(absl::string_view id, absl::string_view owner,
                                     const SessionUpdate& update);

  // Claims the session for writing and brings its state to the device.
  absl::StatusOr<SessionLease> Acquire(absl::string_view id, absl::string_view owner);
  // Acquire, run `fn`, release.
  absl::Status WithSession(absl::string_view id, absl::string_view owner,
                           absl::FunctionRef<absl::Status(SessionLease&)> fn);

  // Advances the leased session by `tokens`, whole or not at all. With
  // `cancel` set mid-chunk: CANCELLED and the session unchanged. Logits as
  // Backend::Forward. Counts tokens_in (and tokens_out for kGenerated).
  absl::Status ApplyChunk(SessionLease& lease, absl::Span<const uint8_t> tokens,
                          LogitsMode mode, std::vector<float>* logits,
                          const std::atomic<bool>* cancel = nullptr,
                          TokenSource source = TokenSource::kInput);
  // As ApplyChunk, handing every token's logits to `rows` a slice of at most
  // options.logit_rows_per_slice tokens at a time (a long chunk never holds
  // [T, V] floats at once), in order. Whole or not at all as ApplyChunk: an
  // error from `rows` or the backend, or cancellation between slices, rolls
  // the chunk back; `rows` may then have seen slices of it.
  absl::Status ApplyChunkWithRows(SessionLease& lease, absl::Span<const uint8_t> tokens,
                                  const LogitRowsSink& rows,
                                  const std::atomic<bool>* cancel = nullptr,
                                  TokenSource source = TokenSource::kInput);
  // Many leased sessions in one Backend::ForwardBatch call (continuous
  // batching). Requests are validated first (INVALID_ARGUMENT, nothing
  // changed). If the backend or a chunk's `rows` then fails, every chunk is
  // rolled back; one without a snapshot (shorter than snapshot_min_tokens)
  // marks its session damaged instead.
  absl::Status ApplyBatch(absl::Span<ChunkRequest> chunks);
  // Starts applying `tokens` to the leased session in slices (SlicedChunk):
  // snapshots it when the chunk is long enough. FAILED_PRECONDITION without
  // a live lease or when `chunk` is already active.
  absl::Status BeginChunk(SessionLease& lease, absl::Span<const uint8_t> tokens,
                          TokenSource source, SlicedChunk& chunk);
  // Rolls an active sliced chunk back (its session as before BeginChunk) and
  // returns CANCELLED saying so, or the rollback's failure (the session then
  // damaged).
  absl::Status AbandonChunk(SessionLease& lease, SlicedChunk& chunk);

  // The session's checkpoint. With a non-empty `save_as`, also stored
  // atomically under that per-user name (validated first: INVALID_ARGUMENT).
  absl::StatusOr<ExportedCheckpoint> Export(absl::string_view id, absl::string_view owner,
                                            absl::string_view save_as = "");
  // The owner's stored checkpoints, by name (none without a state
  // directory).
  absl::StatusOr<std::vector<NamedCheckpointInfo>> ListCheckpoints(
      absl::string_view owner) const;
  // Removes the owner's stored checkpoint `name`, freeing its quota.
  // NOT_FOUND "no checkpoint named ..." when the owner has none by that name
  // (another user's is exactly as missing).
  absl::Status DeleteCheckpoint(absl::string_view owner, absl::string_view name);
  // Bytes of the owner's stored checkpoints, and the quota they count against.
  absl::StatusOr<uint64_t> CheckpointBytesUsed(absl::string_view owner) const;
  uint64_t checkpoint_quota_bytes_per_user() const {
    return options_.checkpoint_quota_bytes_per_user;
  }
  // Free bytes named checkpoints leave for session files (0 when they live
  // on another filesystem).
  uint64_t reserved_state_bytes() const;

  // Verifies `bytes` completely (checkpoint.h), then creates a new session
  // from it, or replaces the state of the owner's session `target_id` when
  // that is non-empty. Any failure changes nothing.
  // A non-empty `expected_digest` (64 hex digits, else INVALID_ARGUMENT)
  // must equal the checkpoint's transcript digest (FAILED_PRECONDITION
  // naming both).
  absl::StatusOr<SessionInfo> RestoreFromBytes(absl::string_view owner, absl::string_view bytes,
                                               std::optional<uint64_t> expected_pulse_id,
                                               absl::string_view target_id = "",
                                               absl::string_view expected_digest = "");
  // As RestoreFromBytes, from a checkpoint the owner stored by name
  // (NOT_FOUND "no checkpoint named ..." when there is none).
  absl::StatusOr<SessionInfo> RestoreFromName(absl::string_view owner, absl::string_view name,
                                              std::optional<uint64_t> expected_pulse_id,
                                              absl::string_view target_id = "",
                                              absl::string_view expected_digest = "");

  // Up to `max_bytes` of the session's journal from pulse `from_pulse` on
  // (Transcript::Read: OUT_OF_RANGE outside the journal held). Reads while
  // a writer holds the session; never moves it between tiers.
  absl::StatusOr<TranscriptBytes> ReadTranscript(absl::string_view id, absl::string_view owner,
                                                 uint64_t from_pulse, size_t max_bytes) const;
  // A new session of `owner` with a copy of session `id`: its state
  // (Backend::Copy, device to device), transcript and next-token logits.
  // The two then continue independently. Limits apply as for Create; the
  // source is claimed meanwhile (ABORTED when busy, unless waiting). With
  // `at_pulse`, the copy is of the session as it was at that pulse (replayed
  // as Rewind does; the source is unchanged).
  absl::StatusOr<SessionInfo> Fork(absl::string_view id, absl::string_view owner,
                                   std::optional<uint64_t> at_pulse = std::nullopt);
  // Puts session `id` back to where it was at pulse `to_pulse`: its state
  // replayed from the nearest snapshot with the journal, in the original
  // chunks (snapshots.h), so that it equals bit for bit a session fed the
  // same first to_pulse bytes in the same chunks; its transcript and digest
  // cut there. OUT_OF_RANGE naming the oldest pulse reachable when to_pulse
  // is before it (or after the session's pulse id).
  absl::StatusOr<SessionInfo> Rewind(absl::string_view id, absl::string_view owner,
                                     uint64_t to_pulse);

  // Expiry: deletes every session whose last use is more than `ttl` before
  // `now` and that nobody holds (a busy session is skipped, never waited
  // for); keep_on_expiry ones are stored by name first (see above). A ttl
  // of zero or less expires nothing.
  ExpiryReport ExpireIdle(absl::Duration ttl, absl::Time now);
  // As ExpireIdle, with each owner's own TTL: `ttl_for(owner)` (zero or
  // less: that owner's sessions never expire), asked once per owner with
  // idle sessions per pass, never under the store's lock.
  ExpiryReport ExpireIdleByOwner(
      absl::FunctionRef<absl::Duration(absl::string_view owner)> ttl_for, absl::Time now);

  // Drain: writes every session to the state directory (waiting for busy
  // ones to be released) and frees its memory. FAILED_PRECONDITION without a
  // state directory.
  absl::StatusOr<DrainReport> CheckpointAll();
  // Restart: registers every session file in the state directory that is
  // not already live, after verifying it (bad files are skipped and
  // reported, never loaded). Limits are not applied to sessions found here.
  absl::StatusOr<LoadReport> LoadFromStateDir();

 private:
  friend class SessionLease;
  // The store's accounting of one session (its tier as last accounted).
  struct Entry {
    std::shared_ptr<Session> session;
    Residency tier = Residency::kDevice;
    size_t bytes = 0;
  };

  SessionStore(Backend& backend, SessionStoreOptions options,
               std::optional<CheckpointDir> dir, std::optional<CheckpointDir> named_dir,
               uint64_t reserved_bytes);

  absl::StatusOr<std::shared_ptr<Session>> Find(absl::string_view id,
                                                absl::string_view owner) const;
  absl::StatusOr<std::shared_ptr<Session>> Claim(absl::string_view id, absl::string_view owner);
  // Claim() for a session whose state is about to be dropped or replaced:
  // its on-disk copy goes first, so a failure leaves the session as it was.
  absl::StatusOr<std::shared_ptr<Session>> ClaimDroppingDiskCopy(absl::string_view id,
                                                                 absl::string_view owner);
  void ReleaseLease(Session& session);
  // Closes the claimed session (whose disk copy is already gone), forgets
  // it and releases the claim.
  void DropClaimed(Session& session);
  absl::StatusOr<SessionInfo> Insert(absl::string_view owner,
                                     std::unique_ptr<BackendState> state, uint64_t pulse_id,
                                     Transcript transcript,
                                     absl::Span<const float> next_logits = {},
                                     absl::string_view id = "",
                                     const CreateOptions& create = {});
  absl::StatusOr<SessionInfo> Restore(absl::string_view owner, absl::string_view bytes,
                                      std::optional<uint64_t> expected_pulse_id,
                                      absl::string_view target_id,
                                      absl::string_view expected_digest);
  absl::Status LimitError(absl::string_view owner) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PinLimitError(absl::string_view owner) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the observer, if any.
  void PublishTierUsage() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify(CheckpointEvent::Kind kind, size_t bytes, absl::Time start,
              const absl::Status& status) const;

  // Residency (session_residency.cc). The caller holds the session's claim.
  absl::Status BringToDevice(Session& session);
  absl::Status MoveDown(Session& session, Residency to, CheckpointEvent::Kind kind);
  // Writes the session file's metadata (session_metadata.h) from `session`.
  absl::Status WriteMetadata(Session& session);
  absl::StatusOr<std::string> CheckpointBytes(Session& session);
  // RESOURCE_EXHAUSTED unless the state directory's filesystem has room for
  // `bytes` of session file (and its metadata).
  absl::Status CheckRoomForSessionFile(const Session& session, size_t bytes) const;
  void Account(Session& session) ABSL_LOCKS_EXCLUDED(mu_);
  void EnforceBudgets() ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<Session> ClaimEvictionVictim(Residency* from, Residency* to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Chunks (session_chunks.cc). Checks that a chunk may start and, when it is
  // long enough, snapshots the state into `*snapshot` for a roll-back.
  absl::Status PrepareChunk(const SessionLease& lease, size_t tokens,
                            const std::atomic<bool>* cancel, ChunkSnapshot* snapshot);
  // A snapshot of `state` for a chunk of `tokens` tokens (empty when shorter
  // than options.snapshot_min_tokens); RecycleSnapshot returns its spare
  // device state to the pool.
  absl::StatusOr<ChunkSnapshot> TakeSnapshot(const BackendState& state, size_t tokens);
  void RecycleSnapshot(ChunkSnapshot& snapshot);
  // A spare device state from the pool (made while fewer than
  // options.max_device_chunk_snapshots exist) holding a copy of `state`;
  // null when none is free; the copy's error (the spare back) when it failed.
  absl::StatusOr<std::unique_ptr<BackendState>> CopyIntoSpare(const BackendState& state);
  void ReturnSpare(std::unique_ptr<BackendState> spare);
  // After a failed Forward: puts `snapshot` back (and recycles it), or marks
  // the session damaged when there is none and the state may have changed.
  // Returns `failure`, reworded for cancellation.
  absl::Status RollBackOrDamage(Session& session, uint64_t pulse_before,
                                ChunkSnapshot& snapshot, const absl::Status& failure);
  // After a chunk applied: the pulse id, counters and `next_logits` (the
  // last token's logits; empty for an empty chunk, which changes nothing).
  // `slices`: the pieces it was applied in, when it was sliced.
  void RecordChunk(Session& session, absl::Span<const uint8_t> tokens, TokenSource source,
                   absl::Span<const float> next_logits,
                   absl::Span<const uint64_t> slices = {});
  // Rewinds (session_transcripts.cc). The session's state at `to_pulse`,
  // replayed into a new device state from its nearest snapshot.
  struct Replayed {
    std::unique_ptr<BackendState> state;
    Transcript transcript;
    std::vector<float> next_logits;
  };
  absl::StatusOr<Replayed> Replay(Session& session, uint64_t to_pulse);
  SnapshotPolicy snapshot_policy() const;
  // After a chunk applied in pieces of `lengths` tokens from
  // `pulse_before`: records them and takes a snapshot when one is due.
  void MaybeSnapshot(Session& session, uint64_t pulse_before,
                     absl::Span<const uint64_t> lengths);

  Backend& backend_;
  const SessionStoreOptions options_;
  const std::optional<CheckpointDir> dir_;        // session files
  std::unique_ptr<NamedCheckpointStore> named_;  // checkpoints stored by name
  const size_t checkpoint_size_;
  const size_t state_bytes_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> sessions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, size_t> sessions_per_user_ ABSL_GUARDED_BY(mu_);
  size_t tier_bytes_[kResidencyTiers] ABSL_GUARDED_BY(mu_) = {};
  size_t tier_sessions_[kResidencyTiers] ABSL_GUARDED_BY(mu_) = {};
  // Bytes of sessions being moved off a tier right now (not yet accounted).
  size_t leaving_bytes_[kResidencyTiers] ABSL_GUARDED_BY(mu_) = {};
  uint64_t use_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // Spare device states for chunk snapshots, and how many exist in all.
  absl::Mutex spare_mu_;
  std::vector<std::unique_ptr<BackendState>> spare_states_ ABSL_GUARDED_BY(spare_mu_);
  size_t spare_states_made_ ABSL_GUARDED_BY(spare_mu_) = 0;
  size_t pinned_sessions_ ABSL_GUARDED_BY(mu_) = 0;
  // Rewind snapshots' host states, reused as they replace each other.
  const std::shared_ptr<HostStatePool> snapshot_states_;
  // Rewind snapshots' downloads (host_copies.h), with background_snapshots
  // only. Last: destroyed first, it
  // hands its spares back to the pool above before that goes.
  std::unique_ptr<HostCopies> host_copies_;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_SESSION_STORE_H_
