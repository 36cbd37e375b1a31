// SessionStore's residency tiers: moving idle sessions down when a tier is
// over budget, bringing them back on use, drain and restart.
#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "sessions/checkpoint.h"
#include "sessions/session_metadata.h"
#include "sessions/session_store.h"

namespace hecate {
namespace {

// Temporary files younger than this may belong to a writer that is still
// running (another process sharing the state directory).
constexpr absl::Duration kStaleTempFileAge = absl::Minutes(10);

int Tier(Residency r) { return static_cast<int>(r); }

// Whether a session file's metadata carries next-token logits that belong to
// its checkpoint: NOT_FOUND when it has none, FAILED_PRECONDITION when they
// cannot be its (another pulse id: metadata older than the checkpoint; wrong
// size; not finite).
absl::Status UsableNextLogits(const SessionMetadata& metadata, uint64_t pulse_id,
                              int vocab_size) {
  if (metadata.next_logits.empty()) return absl::NotFoundError("no next-token logits");
  if (metadata.next_logits_pulse_id != pulse_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("next-byte logits follow pulse id ", metadata.next_logits_pulse_id,
                     ", the checkpoint is at ", pulse_id));
  }
  if (metadata.next_logits.size() != static_cast<size_t>(vocab_size)) {
    return absl::FailedPreconditionError(absl::StrCat(
        metadata.next_logits.size(), " next-byte logits for a vocabulary of ", vocab_size));
  }
  for (float x : metadata.next_logits) {
    if (!std::isfinite(x)) return absl::FailedPreconditionError("next-byte logits not finite");
  }
  return absl::OkStatus();
}

}  // namespace

void SessionStore::Account(Session& session) {
  const Residency tier = session.residency();
  // Rewind snapshots are host memory counted with the session's tier.
  const size_t bytes =
      (tier == Residency::kDevice ? session.device_state()->resident_bytes() : state_bytes_) +
      session.snapshots().bytes();
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session.id());
  if (it == sessions_.end()) return;
  Entry& entry = it->second;
  tier_bytes_[Tier(entry.tier)] -= entry.bytes;
  --tier_sessions_[Tier(entry.tier)];
  entry.tier = tier;
  entry.bytes = bytes;
  tier_bytes_[Tier(tier)] += bytes;
  ++tier_sessions_[Tier(tier)];
  PublishTierUsage();
}

absl::StatusOr<std::string> SessionStore::CheckpointBytes(Session& session) {
  switch (session.residency()) {
    case Residency::kDevice: {
      ModelState host(model().config());
      HECATE_RETURN_IF_ERROR(backend_.Download(*session.device_state(), host));
      return EncodeCheckpoint(model(), host, session.transcript(), options_.checkpoint_signing);
    }
    case Residency::kHost:
      return EncodeCheckpoint(model(), *session.host_state(), session.transcript(),
                              options_.checkpoint_signing);
    case Residency::kDisk: {
      if (!dir_.has_value()) return absl::InternalError("disk-resident session without a state dir");
      HECATE_ASSIGN_OR_RETURN(std::string bytes,
                              dir_->ReadSession(session.owner(), session.id(), checkpoint_size_));
      // Verified like any restore: a damaged file is reported, never served.
      absl::StatusOr<ModelState> check =
          DecodeCheckpoint(model(), bytes, session.pulse_id(), options_.checkpoint_signing);
      if (!check.ok()) {
        return absl::DataLossError(absl::StrCat("session ", session.id(),
                                                "'s offloaded checkpoint is unusable: ",
                                                check.status().message()));
      }
      // The transcript in memory is the session's (a file written before
      // transcripts has none); with a key, a file admitted unsigned
      // (allow_unsigned) leaves signed.
      return EncodeCheckpoint(model(), *check, session.transcript(), options_.checkpoint_signing);
    }
  }
  return absl::InternalError("unknown residency");
}

absl::Status SessionStore::BringToDevice(Session& session) {
  const Residency from = session.residency();
  if (from == Residency::kDevice) return absl::OkStatus();
  // Promotions are what a chunk for an idle session waits on before its
  // first step (hecate_promotion_duration_seconds).
  const absl::Time start = absl::Now();
  std::unique_ptr<ModelState> host;
  if (from == Residency::kHost) {
    host = std::make_unique<ModelState>(std::move(*session.host_state()));
  } else {
    absl::StatusOr<std::string> bytes = CheckpointBytes(session);
    absl::StatusOr<ModelState> decoded =
        bytes.ok()
            ? DecodeCheckpoint(model(), *bytes, session.pulse_id(), options_.checkpoint_signing)
            : bytes.status();
    Notify(CheckpointEvent::Kind::kReload, bytes.ok() ? bytes->size() : 0, start,
           decoded.status());
    if (!decoded.ok()) return decoded.status();
    host = std::make_unique<ModelState>(std::move(*decoded));
  }
  absl::StatusOr<std::unique_ptr<BackendState>> state = backend_.NewState();
  absl::Status uploaded = state.ok() ? backend_.Upload(*host, **state) : state.status();
  if (!uploaded.ok()) {
    // Nothing lost: a host state goes back where it was; a disk one is still there.
    if (from == Residency::kHost) session.SetOnHost(std::move(host));
    return uploaded;
  }
  session.SetOnDevice(std::move(*state));
  // A session brought back from disk keeps its file until the next offload
  // or the drain replaces it (atomically) or Delete and restores remove it:
  // a crash (kill -9) before then leaves the last state written, which a
  // restart finds, rather than no session at all (tests/crash_recovery_test).
  Account(session);
  if (options_.observer != nullptr) options_.observer->OnPromotion(from, absl::Now() - start);
  return absl::OkStatus();
}

absl::Status SessionStore::CheckRoomForSessionFile(const Session& session, size_t bytes) const {
  const FreeSpaceFn& probe = options_.free_space ? options_.free_space : FilesystemFreeBytes;
  absl::StatusOr<uint64_t> free_bytes = probe(dir_->root());
  // When the filesystem cannot be asked, the write itself reports ENOSPC.
  if (!free_bytes.ok()) return absl::OkStatus();
  const uint64_t needed = bytes + kSessionMetadataAllowance;
  if (*free_bytes < needed) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no room on disk for session ", session.id(), ": its file needs ", needed, " bytes, ",
        *free_bytes, " are free"));
  }
  return absl::OkStatus();
}

absl::Status SessionStore::WriteMetadata(Session& session) {
  const SessionInfo info = session.Info();
  return dir_->WriteSessionMetadata(
      session.owner(), session.id(),
      EncodeSessionMetadata({info.created, info.last_used, info.tokens_in, info.tokens_out,
                             session.next_logits(), info.pulse_id, info.keep_on_expiry,
                             info.pinned}));
}

absl::Status SessionStore::MoveDown(Session& session, Residency to, CheckpointEvent::Kind kind) {
  if (to == Residency::kHost) {
    auto host = std::make_unique<ModelState>(model().config());
    HECATE_RETURN_IF_ERROR(backend_.Download(*session.device_state(), *host));
    session.SetOnHost(std::move(host));
    Account(session);
    return absl::OkStatus();
  }
  if (!dir_.has_value()) return absl::FailedPreconditionError("no state directory");
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> bytes = CheckpointBytes(session);
  absl::Status written = bytes.ok() ? CheckRoomForSessionFile(session, bytes->size())
                                    : bytes.status();
  // A temporary file renamed over the old one: a failure leaves any
  // earlier file of the session as it was.
  if (written.ok()) written = dir_->WriteSession(session.owner(), session.id(), *bytes);
  if (written.ok()) written = WriteMetadata(session);
  Notify(kind, bytes.ok() ? bytes->size() : 0, start, written);
  if (!written.ok()) return written;
  session.SetOnDisk();
  session.snapshots().Clear();  // not written to disk (snapshots.h)
  Account(session);
  return absl::OkStatus();
}

std::shared_ptr<Session> SessionStore::ClaimEvictionVictim(Residency* from, Residency* to) {
  const bool disk = dir_.has_value();
  struct TierRule {
    Residency tier;
    size_t budget;
    bool can_move;
    Residency dest;
  };
  const TierRule rules[] = {
      {Residency::kDevice, options_.device_budget_bytes, options_.host_tier || disk,
       options_.host_tier ? Residency::kHost : Residency::kDisk},
      {Residency::kHost, options_.host_budget_bytes, disk, Residency::kDisk},
  };
  for (const TierRule& rule : rules) {
    const int t = Tier(rule.tier);
    if (!rule.can_move || tier_bytes_[t] - leaving_bytes_[t] <= rule.budget) continue;
    std::vector<std::pair<uint64_t, Session*>> candidates;
    for (const auto& [id, entry] : sessions_) {
      if (entry.tier == rule.tier) {
        candidates.emplace_back(entry.session->last_use_sequence(), entry.session.get());
      }
    }
    std::sort(candidates.begin(), candidates.end());
    for (const auto& [sequence, session] : candidates) {
      // Pinned sessions never go to disk; busy ones never move; damaged ones
      // have nothing worth keeping.
      if (rule.dest == Residency::kDisk && session->pinned()) continue;
      if (!session->damage().empty() || !session->TryBeginWrite(Session::Claimant::kDaemon)) continue;
      *from = rule.tier;
      *to = rule.dest;
      return sessions_.find(session->id())->second.session;
    }
  }
  return nullptr;
}

void SessionStore::EnforceBudgets() {
  for (;;) {
    std::shared_ptr<Session> victim;
    Residency from = Residency::kDevice, to = Residency::kDevice;
    size_t bytes = 0;
    {
      absl::MutexLock lock(&mu_);
      victim = ClaimEvictionVictim(&from, &to);
      if (victim == nullptr) return;
      bytes = sessions_.find(victim->id())->second.bytes;
      leaving_bytes_[Tier(from)] += bytes;
    }
    const absl::Status moved = MoveDown(*victim, to, CheckpointEvent::Kind::kOffload);
    {
      absl::MutexLock lock(&mu_);
      leaving_bytes_[Tier(from)] -= bytes;
    }
    if (moved.ok() && options_.observer != nullptr) options_.observer->OnEviction(from, to);
    victim->EndWrite();
    // A failure (disk full, say) would repeat at once; try again on the next
    // call instead of spinning.
    if (!moved.ok()) return;
  }
}

absl::StatusOr<DrainReport> SessionStore::CheckpointAll() {
  if (!dir_.has_value()) {
    return absl::FailedPreconditionError("this server has no state directory to drain into");
  }
  // Most recently used first: should the disk fill, the idlest sessions are
  // the ones not saved.
  std::vector<std::pair<uint64_t, std::shared_ptr<Session>>> by_use;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, entry] : sessions_) {
      by_use.emplace_back(entry.session->last_use_sequence(), entry.session);
    }
  }
  std::sort(by_use.begin(), by_use.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::shared_ptr<Session>> all;
  for (auto& [sequence, session] : by_use) all.push_back(std::move(session));
  DrainReport report;
  for (const std::shared_ptr<Session>& session : all) {
    if (!session->BeginWrite(/*wait=*/true).ok()) continue;  // deleted meanwhile
    absl::Status saved = absl::OkStatus();
    if (std::string damage = session->damage(); !damage.empty()) {
      saved = absl::DataLossError(damage);
    } else if (session->residency() == Residency::kDisk) {
      ++report.already_on_disk;
    } else {
      saved = MoveDown(*session, Residency::kDisk, CheckpointEvent::Kind::kDrain);
      if (saved.ok()) ++report.written;
    }
    // A full disk fails this session only: the others are still tried, and
    // any that fit (or are already on disk) are kept.
    if (!saved.ok()) {
      report.errors.push_back(absl::StrCat("session ", session->id(), " of user ",
                                           session->owner(), " not saved: ", saved.ToString()));
      report.unsaved.push_back({session->id(), session->owner(), saved});
    }
    session->EndWrite();
  }
  return report;
}

absl::StatusOr<LoadReport> SessionStore::LoadFromStateDir() {
  if (!dir_.has_value()) {
    return absl::FailedPreconditionError("this server has no state directory to load from");
  }
  LoadReport report;
  report.stale_temp_files_removed = dir_->RemoveStaleTempFiles(kStaleTempFileAge);
  if (!options_.checkpoint_dir.empty()) {
    report.stale_temp_files_removed += named_->RemoveStaleTempFiles(kStaleTempFileAge);
  }
  // Named checkpoints count against their users' quotas from the files
  // themselves; this scan reports what a restart found.
  if (named_ != nullptr) {
    absl::StatusOr<std::vector<std::pair<std::string, uint64_t>>> usage = named_->UsageByUser();
    if (usage.ok()) {
      report.checkpoint_usage = std::move(*usage);
    } else {
      report.errors.push_back(absl::StrCat("named checkpoints: ", usage.status().message()));
    }
  }
  HECATE_ASSIGN_OR_RETURN(auto files,  // (owner, session id) pairs
                          dir_->ListSessionFiles());
  for (const auto& [owner, id] : files) {
    {
      absl::MutexLock lock(&mu_);
      if (sessions_.contains(id)) {
        ++report.already_present;
        continue;
      }
    }
    absl::StatusOr<std::string> bytes = dir_->ReadSession(owner, id, checkpoint_size_);
    absl::StatusOr<DecodedCheckpoint> checkpoint =
        bytes.ok() ? DecodeCheckpointWithTranscript(model(), *bytes, std::nullopt,
                                                    options_.checkpoint_signing)
                   : bytes.status();
    absl::StatusOr<const ModelState*> state =
        checkpoint.ok() ? absl::StatusOr<const ModelState*>(&checkpoint->state)
                        : checkpoint.status();
    if (!state.ok()) {
      report.errors.push_back(absl::StrCat("users/", owner, "/sessions/", id,
                                           ".ckpt: ", state.status().message()));
      continue;
    }
    // Times and counters from before; a state directory without them (or
    // with damaged ones) still loads, as if the session were new.
    SessionMetadata metadata;
    metadata.created = metadata.last_used = absl::Now();
    absl::StatusOr<std::string> text = dir_->ReadSessionMetadata(owner, id);
    absl::StatusOr<SessionMetadata> decoded =
        text.ok() ? DecodeSessionMetadata(*text) : text.status();
    if (decoded.ok()) {
      metadata = *decoded;
    } else if (!absl::IsNotFound(decoded.status())) {
      report.errors.push_back(absl::StrCat("users/", owner, "/sessions/", id,
                                           ".meta (loaded with fresh times and counters): ",
                                           decoded.status().message()));
    }
    const uint64_t pulse_id = (*state)->pulse_id();
    auto session = std::make_shared<Session>(id, owner, model().fingerprint(), state_bytes_,
                                             pulse_id, metadata.created);
    session->SetOnDisk();
    // A file written before transcripts: the bytes before its pulse id are unknown.
    Transcript transcript = checkpoint->transcript.has_value()
                                ? std::move(*checkpoint->transcript)
                                : Transcript(pulse_id);
    transcript.Append(absl::string_view(), options_.max_journal_bytes);
    session->set_transcript(std::move(transcript));
    const absl::Status usable =
        UsableNextLogits(metadata, pulse_id, model().config().vocab_size);
    if (usable.ok()) {
      session->set_next_logits(metadata.next_logits);
    } else if (!absl::IsNotFound(usable)) {
      report.errors.push_back(absl::StrCat("users/", owner, "/sessions/", id,
                                           ".meta (loaded without its next-byte logits): ",
                                           usable.message()));
    }
    // The flags as they were written (the pin quota is not applied here, as
    // no limit is: these sessions existed before).
    session->set_keep_on_expiry(metadata.keep_on_expiry);
    session->set_pinned(metadata.pinned);
    absl::MutexLock lock(&mu_);
    if (!sessions_.emplace(id, Entry{session, Residency::kDisk, state_bytes_}).second) {
      ++report.already_present;
      continue;
    }
    if (metadata.pinned) ++pinned_sessions_;
    session->RecordUse(metadata.tokens_in, metadata.tokens_out, ++use_sequence_,
                       metadata.last_used);
    ++sessions_per_user_[owner];
    tier_bytes_[Tier(Residency::kDisk)] += state_bytes_;
    ++tier_sessions_[Tier(Residency::kDisk)];
    PublishTierUsage();
    ++report.loaded;
  }
  return report;
}

}  // namespace hecate
