#include "sessions/session_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "sessions/checkpoint.h"

namespace hecate {
namespace {

// Free host states kept for the next rewind snapshot: sessions at steady
// pace drop one old snapshot per new one, so a few cover them (4 x 120 MB
// for the base model at most).
constexpr size_t kKeptSnapshotStates = 4;

}  // namespace

// ---- SessionLease ----

SessionLease::SessionLease(SessionStore* store, std::shared_ptr<Session> session)
    : store_(store), session_(std::move(session)) {}

SessionLease::SessionLease(SessionLease&& other) noexcept
    : store_(other.store_), session_(std::move(other.session_)) {
  other.store_ = nullptr;
}

SessionLease& SessionLease::operator=(SessionLease&& other) noexcept {
  if (this != &other) {
    Release();
    store_ = other.store_;
    session_ = std::move(other.session_);
    other.store_ = nullptr;
  }
  return *this;
}

SessionLease::~SessionLease() { Release(); }

const std::string& SessionLease::session_id() const { return session_->id(); }
uint64_t SessionLease::pulse_id() const { return session_->pulse_id(); }
SessionInfo SessionLease::info() const { return session_->Info(); }
const std::vector<float>& SessionLease::next_logits() const { return session_->next_logits(); }

void SessionLease::Release() {
  if (session_ == nullptr) return;
  std::shared_ptr<Session> session = std::move(session_);
  session_ = nullptr;
  store_->ReleaseLease(*session);
  store_ = nullptr;
}

// ---- SessionStore: lifecycle ----

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::Open(Backend& backend,
                                                                  SessionStoreOptions options) {
  if (options.max_sessions_total == 0 || options.max_sessions_per_user == 0) {
    return absl::InvalidArgumentError("session limits must be at least 1");
  }
  if (options.snapshot_min_tokens == 0) {
    return absl::InvalidArgumentError("snapshot_min_tokens must be at least 1");
  }
  if (!options.checkpoint_dir.empty() && options.state_dir.empty()) {
    return absl::InvalidArgumentError("a checkpoint directory needs a state directory too");
  }
  std::optional<CheckpointDir> dir, named_dir;
  if (!options.state_dir.empty()) {
    HECATE_ASSIGN_OR_RETURN(CheckpointDir opened, CheckpointDir::Open(options.state_dir));
    dir = std::move(opened);
    named_dir = dir;
  }
  // Room for every session's file (and its metadata) unless told otherwise.
  uint64_t reserved = options.reserved_state_bytes.value_or(
      uint64_t{options.max_sessions_total} *
      ((options.checkpoint_signing.key != nullptr ? MaxCheckpointSize(backend.model().config())
                                                  : CheckpointSize(backend.model().config())) +
       kSessionMetadataAllowance));
  if (!options.checkpoint_dir.empty()) {
    HECATE_ASSIGN_OR_RETURN(CheckpointDir opened, CheckpointDir::Open(options.checkpoint_dir));
    named_dir = std::move(opened);
    // Named checkpoints elsewhere cannot take the session files' space.
    HECATE_ASSIGN_OR_RETURN(bool shared, SameFilesystem(dir->root(), named_dir->root()));
    if (!shared) reserved = 0;
  }
  return std::unique_ptr<SessionStore>(new SessionStore(
      backend, std::move(options), std::move(dir), std::move(named_dir), reserved));
}

SessionStore::SessionStore(Backend& backend, SessionStoreOptions options,
                           std::optional<CheckpointDir> dir,
                           std::optional<CheckpointDir> named_dir, uint64_t reserved_bytes)
    : backend_(backend),
      options_(std::move(options)),
      dir_(std::move(dir)),
      checkpoint_size_(MaxCheckpointSize(backend.model().config(), options_.max_journal_bytes)),
      state_bytes_(StateLayout(backend.model().config()).total_bytes()),
      snapshot_states_(std::make_shared<HostStatePool>(backend.model().config(),
                                                       kKeptSnapshotStates)) {
  if (named_dir.has_value()) {
    named_ = std::make_unique<NamedCheckpointStore>(
        std::move(*named_dir),
        NamedCheckpointLimits{options_.checkpoint_quota_bytes_per_user, reserved_bytes,
                              options_.free_space});
  }
  if (options_.background_snapshots) {  // its thread only where it is used
    host_copies_ = std::make_unique<HostCopies>(
        backend_, [this](std::unique_ptr<BackendState> spare) { ReturnSpare(std::move(spare)); });
  }
}

uint64_t SessionStore::reserved_state_bytes() const {
  return named_ == nullptr ? 0 : named_->limits().reserved_bytes;
}

SessionStore::~SessionStore() = default;

absl::Status SessionStore::LimitError(absl::string_view owner) const {
  if (sessions_.size() >= options_.max_sessions_total) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "session limit in total (", options_.max_sessions_total, ") reached"));
  }
  auto it = sessions_per_user_.find(owner);
  if (it != sessions_per_user_.end() && it->second >= options_.max_sessions_per_user) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "session limit per user (", options_.max_sessions_per_user, ") reached"));
  }
  return absl::OkStatus();
}

absl::Status SessionStore::PinLimitError(absl::string_view owner) const {
  size_t pinned = 0;
  for (const auto& [id, entry] : sessions_) {
    if (entry.session->owner() == owner && entry.session->pinned()) ++pinned;
  }
  if (pinned >= options_.max_pinned_sessions_per_user) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "pinned session limit per user (", options_.max_pinned_sessions_per_user, ") reached"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SessionInfo> SessionStore::Create(absl::string_view owner, absl::string_view id,
                                                  const CreateOptions& create) {
  HECATE_RETURN_IF_ERROR(ValidateName("user name", owner));
  if (!id.empty()) HECATE_RETURN_IF_ERROR(ValidateSessionId(id));
  {
    absl::MutexLock lock(&mu_);  // fail before allocating device memory
    HECATE_RETURN_IF_ERROR(LimitError(owner));
    if (create.pinned) HECATE_RETURN_IF_ERROR(PinLimitError(owner));
  }
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<BackendState> state, backend_.NewState());
  return Insert(owner, std::move(state), 0, Transcript(0), {}, id, create);
}

absl::StatusOr<SessionInfo> SessionStore::Insert(absl::string_view owner,
                                                 std::unique_ptr<BackendState> state,
                                                 uint64_t pulse_id, Transcript transcript,
                                                 absl::Span<const float> next_logits,
                                                 absl::string_view requested_id,
                                                 const CreateOptions& create) {
  const size_t bytes = state->resident_bytes();
  std::shared_ptr<Session> session;
  {
    absl::MutexLock lock(&mu_);
    HECATE_RETURN_IF_ERROR(LimitError(owner));
    if (create.pinned) HECATE_RETURN_IF_ERROR(PinLimitError(owner));
    std::string id(requested_id);
    if (!id.empty() && sessions_.contains(id)) {
      return absl::AlreadyExistsError(absl::StrCat("session ", id, " already exists"));
    }
    while (id.empty() || sessions_.contains(id)) {
      HECATE_ASSIGN_OR_RETURN(std::string fresh, NewSessionId());
      id = std::move(fresh);
    }
    const absl::Time now = absl::Now();
    session = std::make_shared<Session>(id, std::string(owner), backend_.model().fingerprint(),
                                        state_bytes_, pulse_id, now);
    session->SetOnDevice(std::move(state));
    // A state at pulse 0 is the zero state: a free snapshot to rewind to.
    if (pulse_id == 0) session->snapshots().StartFresh(transcript.chain());
    session->set_transcript(std::move(transcript));
    if (!next_logits.empty()) session->set_next_logits(next_logits);
    session->set_keep_on_expiry(create.keep_on_expiry);
    session->set_pinned(create.pinned);
    session->RecordUse(0, 0, ++use_sequence_, now);
    sessions_.emplace(id, Entry{session, Residency::kDevice, bytes});
    ++sessions_per_user_[owner];
    if (create.pinned) ++pinned_sessions_;
    tier_bytes_[static_cast<int>(Residency::kDevice)] += bytes;
    ++tier_sessions_[static_cast<int>(Residency::kDevice)];
    PublishTierUsage();
  }
  EnforceBudgets();
  return session->Info();
}

absl::StatusOr<std::shared_ptr<Session>> SessionStore::Find(absl::string_view id,
                                                            absl::string_view owner) const {
  HECATE_RETURN_IF_ERROR(ValidateSessionId(id));
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  // Another user's session reads exactly like a missing one.
  if (it == sessions_.end() || it->second.session->owner() != owner) {
    return absl::NotFoundError(absl::StrCat("session ", id, " not found"));
  }
  return it->second.session;
}

absl::StatusOr<std::shared_ptr<Session>> SessionStore::Claim(absl::string_view id,
                                                             absl::string_view owner) {
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<Session> session, Find(id, owner));
  HECATE_RETURN_IF_ERROR(session->BeginWrite(options_.wait_for_lock));
  return session;
}

absl::StatusOr<std::shared_ptr<Session>> SessionStore::ClaimDroppingDiskCopy(
    absl::string_view id, absl::string_view owner) {
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<Session> claimed, Claim(id, owner));
  Session& session = *claimed;
  // Whatever its residency: a session brought back from disk keeps its file
  // (NOT_FOUND: the user has no session directory, so no file either).
  if (dir_.has_value()) {
    if (absl::Status s = dir_->RemoveSession(session.owner(), session.id());
        !s.ok() && !absl::IsNotFound(s)) {
      session.EndWrite();
      return s;
    }
  }
  return claimed;
}

absl::StatusOr<SessionInfo> SessionStore::Get(absl::string_view id, absl::string_view owner) const {
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<Session> session, Find(id, owner));
  return session->Info();
}

std::vector<SessionInfo> SessionStore::List(absl::string_view owner) const {
  std::vector<SessionInfo> infos;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, entry] : sessions_) {
      if (entry.session->owner() == owner) infos.push_back(entry.session->Info());
    }
  }
  std::sort(infos.begin(), infos.end(), [](const SessionInfo& a, const SessionInfo& b) {
    return a.created != b.created ? a.created < b.created : a.id < b.id;
  });
  return infos;
}

absl::Status SessionStore::Delete(absl::string_view id, absl::string_view owner) {
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<Session> claimed, ClaimDroppingDiskCopy(id, owner));
  DropClaimed(*claimed);
  return absl::OkStatus();
}

absl::StatusOr<SessionInfo> SessionStore::Update(absl::string_view id, absl::string_view owner,
                                                  const SessionUpdate& update) {
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<Session> claimed, Claim(id, owner));
  Session& session = *claimed;
  const bool was_pinned = session.pinned();
  const bool was_kept = session.keep_on_expiry();
  const bool pinned = update.pinned.value_or(was_pinned);
  const bool kept = update.keep_on_expiry.value_or(was_kept);
  // Sets both flags and the pin count at once, under mu_: two pins racing
  // for the last place of a quota see each other.
  auto set_flags = [&](bool pin, bool keep) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (pin != session.pinned()) {
      pin ? ++pinned_sessions_ : --pinned_sessions_;
      session.set_pinned(pin);
      PublishTierUsage();
    }
    session.set_keep_on_expiry(keep);
  };
  absl::Status status = absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    if (pinned && !was_pinned) status = PinLimitError(owner);
    if (status.ok()) set_flags(pinned, kept);
  }
  // On disk the flags live in the metadata file too (a restart reads them
  // from there); elsewhere the next offload or drain writes them.
  const bool changed = pinned != was_pinned || kept != was_kept;
  if (status.ok() && changed && session.residency() == Residency::kDisk && dir_.has_value()) {
    status = WriteMetadata(session);
    if (!status.ok()) {
      absl::MutexLock lock(&mu_);
      set_flags(was_pinned, was_kept);
    }
  }
  const SessionInfo info = session.Info();
  session.EndWrite();
  if (!status.ok()) return status;
  if (was_pinned && !pinned) EnforceBudgets();  // it may move down now
  return info;
}

void SessionStore::DropClaimed(Session& session) {
  session.Close();
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session.id());
    if (it != sessions_.end()) {
      tier_bytes_[static_cast<int>(it->second.tier)] -= it->second.bytes;
      --tier_sessions_[static_cast<int>(it->second.tier)];
      auto user = sessions_per_user_.find(session.owner());
      if (user != sessions_per_user_.end() && --user->second == 0) sessions_per_user_.erase(user);
      if (session.pinned()) --pinned_sessions_;
      sessions_.erase(it);
      PublishTierUsage();
    }
  }
  session.EndWrite();  // wakes waiters, who now get NOT_FOUND
}

// ---- Leases ----

absl::StatusOr<SessionLease> SessionStore::Acquire(absl::string_view id, absl::string_view owner) {
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<Session> claimed, Claim(id, owner));
  std::shared_ptr<Session> session = std::move(claimed);
  absl::Status ready = absl::OkStatus();
  if (std::string damage = session->damage(); !damage.empty()) {
    ready = absl::DataLossError(damage);
  } else {
    ready = BringToDevice(*session);
  }
  if (!ready.ok()) {
    session->EndWrite();
    return ready;
  }
  {
    absl::MutexLock lock(&mu_);
    session->RecordUse(0, 0, ++use_sequence_, absl::Now());
  }
  EnforceBudgets();  // this session is claimed, so only others move
  return SessionLease(this, std::move(session));
}

absl::Status SessionStore::WithSession(absl::string_view id, absl::string_view owner,
                                       absl::FunctionRef<absl::Status(SessionLease&)> fn) {
  HECATE_ASSIGN_OR_RETURN(SessionLease lease, Acquire(id, owner));
  return fn(lease);
}

void SessionStore::ReleaseLease(Session& session) {
  {
    absl::MutexLock lock(&mu_);
    session.RecordUse(0, 0, ++use_sequence_, absl::Now());
  }
  session.EndWrite();
  EnforceBudgets();  // the session is idle now and may move down
}

// ---- Checkpoints ----

void SessionStore::PublishTierUsage() const {
  if (options_.observer == nullptr) return;
  TierUsage usage;
  for (int t = 0; t < kResidencyTiers; ++t) {
    usage.sessions[t] = tier_sessions_[t];
    usage.bytes[t] = tier_bytes_[t];
  }
  usage.pinned_sessions = pinned_sessions_;
  options_.observer->OnTierUsage(usage);
}

void SessionStore::Notify(CheckpointEvent::Kind kind, size_t bytes, absl::Time start,
                          const absl::Status& status) const {
  if (options_.observer == nullptr) return;
  options_.observer->OnCheckpoint(CheckpointEvent{kind, bytes, absl::Now() - start, status.code()});
}

absl::StatusOr<ExportedCheckpoint> SessionStore::Export(absl::string_view id,
                                                        absl::string_view owner,
                                                        absl::string_view save_as) {
  if (!save_as.empty()) {
    HECATE_RETURN_IF_ERROR(ValidateName("checkpoint name", save_as));
    if (named_ == nullptr) {
      return absl::FailedPreconditionError(
          "this server has no state directory, so checkpoints cannot be stored by name");
    }
  }
  const absl::Time start = absl::Now();
  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<Session> claimed, Claim(id, owner));
  Session& session = *claimed;
  absl::StatusOr<std::string> bytes = absl::DataLossError(session.damage());
  if (session.damage().empty()) bytes = CheckpointBytes(session);
  const uint64_t pulse_id = session.pulse_id();
  session.EndWrite();
  if (bytes.ok() && !save_as.empty()) {
    absl::Status written = named_->Write(owner, save_as, *bytes);
    if (!written.ok()) bytes = written;
  }
  Notify(CheckpointEvent::Kind::kExport, bytes.ok() ? bytes->size() : 0, start, bytes.status());
  if (!bytes.ok()) return bytes.status();
  return ExportedCheckpoint{std::move(*bytes), pulse_id, model().fingerprint(),
                            std::string(save_as)};
}

absl::StatusOr<std::vector<NamedCheckpointInfo>> SessionStore::ListCheckpoints(
    absl::string_view owner) const {
  HECATE_RETURN_IF_ERROR(ValidateName("user name", owner));
  if (named_ == nullptr) return std::vector<NamedCheckpointInfo>{};
  return named_->List(owner);
}

absl::Status SessionStore::DeleteCheckpoint(absl::string_view owner, absl::string_view name) {
  HECATE_RETURN_IF_ERROR(ValidateName("user name", owner));
  HECATE_RETURN_IF_ERROR(ValidateName("checkpoint name", name));
  if (named_ == nullptr) return absl::NotFoundError(absl::StrCat("no checkpoint named '", name, "'"));
  return named_->Delete(owner, name);
}

absl::StatusOr<uint64_t> SessionStore::CheckpointBytesUsed(absl::string_view owner) const {
  HECATE_RETURN_IF_ERROR(ValidateName("user name", owner));
  if (named_ == nullptr) return 0;
  return named_->UsedBytes(owner);
}

absl::StatusOr<SessionInfo> SessionStore::RestoreFromBytes(
    absl::string_view owner, absl::string_view bytes, std::optional<uint64_t> expected_pulse_id,
    absl::string_view target_id, absl::string_view expected_digest) {
  const absl::Time start = absl::Now();
  absl::StatusOr<SessionInfo> info =
      Restore(owner, bytes, expected_pulse_id, target_id, expected_digest);
  Notify(CheckpointEvent::Kind::kRestore, bytes.size(), start, info.status());
  return info;
}

absl::StatusOr<SessionInfo> SessionStore::RestoreFromName(
    absl::string_view owner, absl::string_view name, std::optional<uint64_t> expected_pulse_id,
    absl::string_view target_id, absl::string_view expected_digest) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> bytes = absl::FailedPreconditionError(
      "this server has no state directory, so it has no named checkpoints");
  if (absl::Status s = ValidateName("user name", owner); !s.ok()) {
    bytes = s;
  } else if (named_ != nullptr) {
    bytes = named_->Read(owner, name, checkpoint_size_);
  }
  absl::StatusOr<SessionInfo> info =
      bytes.ok() ? Restore(owner, *bytes, expected_pulse_id, target_id, expected_digest)
                 : bytes.status();
  Notify(CheckpointEvent::Kind::kRestore, bytes.ok() ? bytes->size() : 0, start, info.status());
  return info;
}

absl::StatusOr<SessionInfo> SessionStore::Restore(absl::string_view owner,
                                                  absl::string_view bytes,
                                                  std::optional<uint64_t> expected_pulse_id,
                                                  absl::string_view target_id,
                                                  absl::string_view expected_digest) {
  HECATE_RETURN_IF_ERROR(ValidateName("user name", owner));
  if (!target_id.empty()) {
    HECATE_RETURN_IF_ERROR(ValidateSessionId(target_id));
  }
  const std::string expected = absl::AsciiStrToLower(expected_digest);
  if (!expected.empty() && (expected.size() != 2 * kSha256DigestSize ||
                            expected.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected_digest must be 64 hex digits (a transcript digest), got ",
        expected_digest.size(), " characters"));
  }
  // Everything is verified before anything is touched.
  HECATE_ASSIGN_OR_RETURN(DecodedCheckpoint checkpoint,
                          DecodeCheckpointWithTranscript(model(), bytes, expected_pulse_id,
                                                         options_.checkpoint_signing));
  ModelState& decoded = checkpoint.state;
  // A checkpoint from before transcripts: the bytes before its pulse id are unknown.
  Transcript transcript = checkpoint.transcript.has_value()
                              ? std::move(*checkpoint.transcript)
                              : Transcript(decoded.pulse_id());
  transcript.Append(absl::string_view(), options_.max_journal_bytes);  // this server's limit
  if (!expected.empty() && expected != transcript.digest_hex()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint's transcript digest is ", transcript.digest_hex(), ", but ", expected,
        " was expected"));
  }
  if (target_id.empty()) {
    absl::MutexLock lock(&mu_);
    HECATE_RETURN_IF_ERROR(LimitError(owner));
  }
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<BackendState> state, backend_.NewState());
  HECATE_RETURN_IF_ERROR(backend_.Upload(decoded, *state));
  if (target_id.empty()) {
    return Insert(owner, std::move(state), decoded.pulse_id(), std::move(transcript));
  }

  HECATE_ASSIGN_OR_RETURN(std::shared_ptr<Session> claimed,
                          ClaimDroppingDiskCopy(target_id, owner));
  Session& session = *claimed;
  session.SetOnDevice(std::move(state));
  session.set_pulse_id(decoded.pulse_id());
  session.set_transcript(std::move(transcript));
  session.snapshots().Clear();  // of the replaced state
  // A checkpoint holds only the canonical state, not the next-token logits.
  session.clear_next_logits();
  session.ClearDamage();
  Account(session);
  {
    absl::MutexLock lock(&mu_);
    session.RecordUse(0, 0, ++use_sequence_, absl::Now());
  }
  session.EndWrite();
  EnforceBudgets();
  return session.Info();
}

}  // namespace hecate
