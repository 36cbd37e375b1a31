#include "sessions/shared_sessions.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "sessions/session.h"
#include "sessions/session_metadata.h"

namespace hecate {
namespace {

// Larger than any checkpoint of a model this daemon can serve.
constexpr size_t kMaxSessionFileBytes = size_t{4} << 30;

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

// Creates `path` holding `content`; ALREADY_EXISTS when it exists.
absl::Status CreateExclusive(const std::string& path, absl::string_view content) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(path);
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  }
  const bool ok = write(fd, content.data(), content.size()) ==
                      static_cast<ssize_t>(content.size()) &&
                  fsync(fd) == 0;
  close(fd);
  if (!ok) {
    unlink(path.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

absl::Status NotFound(absl::string_view id) {
  // Exactly the store's message for a missing session (or another user's).
  return absl::NotFoundError(absl::StrCat("session ", id, " not found"));
}

}  // namespace

SharedSessions::SharedSessions(SessionStore* store, SharedSessionsOptions options,
                               CheckpointDir local, CheckpointDir shared, LeaseDir leases)
    : store_(store),
      options_(std::move(options)),
      local_(std::move(local)),
      shared_(std::move(shared)),
      leases_(std::move(leases)) {}

absl::StatusOr<std::unique_ptr<SharedSessions>> SharedSessions::Open(
    SessionStore* store, SharedSessionsOptions options) {
  if (store->options().state_dir.empty()) {
    return absl::InvalidArgumentError("shared sessions need a state directory");
  }
  if (options.checkpoint_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the checkpoint interval must be positive");
  }
  if (options.lease_duration < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        "the session lease must last at least 1s (it is renewed every third of it)");
  }
  HECATE_RETURN_IF_ERROR(MakeDir(options.root));
  HECATE_RETURN_IF_ERROR(MakeDir(options.root + "/ids"));
  HECATE_ASSIGN_OR_RETURN(CheckpointDir local, CheckpointDir::Open(store->options().state_dir));
  HECATE_ASSIGN_OR_RETURN(CheckpointDir shared, CheckpointDir::Open(options.root));
  HECATE_ASSIGN_OR_RETURN(LeaseDir leases, LeaseDir::Open(options.root + "/leases",
                                                          options.replica_id,
                                                          options.lease_duration));
  return std::unique_ptr<SharedSessions>(new SharedSessions(
      store, std::move(options), std::move(local), std::move(shared), std::move(leases)));
}

SharedSessions::~SharedSessions() { Stop(); }

std::string SharedSessions::IdPath(absl::string_view id) const {
  return absl::StrCat(options_.root, "/ids/", id);
}

absl::StatusOr<std::string> SharedSessions::IdOwner(absl::string_view id) const {
  HECATE_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(IdPath(id), 256));
  return std::string(absl::StripSuffix(text, "\n"));
}

void SharedSessions::Untrack(const std::string& id) {
  absl::MutexLock lock(&mu_);
  held_.erase(id);
  auto epoch = publish_epoch_.find(id);
  if (epoch != publish_epoch_.end() && epoch->second % 2 == 0) publish_epoch_.erase(epoch);
}

// ---- Creation, deletion ----

absl::Status SharedSessions::Reserve(absl::string_view id, absl::string_view owner) {
  HECATE_RETURN_IF_ERROR(ValidateSessionId(id));
  absl::Status created = CreateExclusive(IdPath(id), absl::StrCat(owner, "\n"));
  if (absl::IsAlreadyExists(created)) {
    return absl::AlreadyExistsError(absl::StrCat("session ", id, " already exists"));
  }
  HECATE_RETURN_IF_ERROR(created);
  if (absl::Status leased = leases_.Acquire(id, absl::Now()); !leased.ok()) {
    unlink(IdPath(id).c_str());
    return absl::AlreadyExistsError(absl::StrCat("session ", id, " already exists"));
  }
  return absl::OkStatus();
}

absl::Status SharedSessions::Track(absl::string_view id, absl::string_view owner) {
  absl::Status created = CreateExclusive(IdPath(id), absl::StrCat(owner, "\n"));
  if (absl::IsAlreadyExists(created)) {
    HECATE_ASSIGN_OR_RETURN(std::string taken_by, IdOwner(id));
    if (taken_by != owner) {
      return absl::AlreadyExistsError(absl::StrCat("session ", id, " already exists"));
    }
  } else {
    HECATE_RETURN_IF_ERROR(created);
  }
  HECATE_RETURN_IF_ERROR(leases_.Acquire(id, absl::Now()));
  absl::MutexLock lock(&mu_);
  held_[std::string(id)] = Held{std::string(owner)};
  return absl::OkStatus();
}

void SharedSessions::Forget(absl::string_view id, absl::string_view owner) {
  Untrack(std::string(id));
  if (absl::Status s = shared_.RemoveSession(owner, id); !s.ok()) {
    LOG(WARNING) << "shared sessions: " << s;
  }
  absl::StatusOr<std::string> taken_by = IdOwner(id);
  if (taken_by.ok() && *taken_by == owner) unlink(IdPath(id).c_str());
  leases_.ClearHandover(id);
  if (absl::Status s = leases_.Release(id); !s.ok()) LOG(WARNING) << "shared sessions: " << s;
}

// ---- Adoption ----

absl::StatusOr<std::optional<uint64_t>> SharedSessions::EnsureHere(absl::string_view id,
                                                                   absl::string_view owner) {
  // Malformed ids and users are the store's to refuse, in its words.
  if (!ValidateSessionId(id).ok() || !ValidateName("user name", owner).ok()) return std::nullopt;
  absl::StatusOr<SessionInfo> here = store_->Get(id, owner);
  if (here.ok() || !absl::IsNotFound(here.status())) return std::nullopt;
  absl::MutexLock lock(&adopt_mu_);
  if (store_->Get(id, owner).ok()) return std::nullopt;  // adopted meanwhile
  HECATE_ASSIGN_OR_RETURN(uint64_t pulse, Adopt(id, owner));
  return pulse;
}

absl::StatusOr<uint64_t> SharedSessions::Adopt(absl::string_view id, absl::string_view owner) {
  absl::StatusOr<std::string> taken_by = IdOwner(id);
  if (!taken_by.ok()) {
    if (absl::IsNotFound(taken_by.status())) return NotFound(id);
    return taken_by.status();
  }
  if (*taken_by != owner) return NotFound(id);  // another user's: exactly as missing
  if (absl::Status leased = leases_.Acquire(id, absl::Now()); !leased.ok()) {
    if (absl::IsUnavailable(leased)) leases_.RequestHandover(id);
    return leased;
  }
  auto give_up = [&](absl::Status status) {
    if (absl::Status s = leases_.Release(id); !s.ok()) LOG(WARNING) << "shared sessions: " << s;
    return status;
  };
  absl::StatusOr<std::string> bytes = shared_.ReadSession(owner, id, kMaxSessionFileBytes);
  if (absl::IsNotFound(bytes.status())) {
    // Created, then its replica died before its first checkpoint: the
    // session resumes at pulse id 0 (the client resends everything).
    absl::StatusOr<SessionInfo> fresh = store_->Create(owner, id);
    if (!fresh.ok()) return give_up(fresh.status());
    absl::MutexLock lock(&mu_);
    held_[std::string(id)] = Held{std::string(owner)};
    LOG(INFO) << "shared sessions: adopted session " << id << " of " << owner
              << " at pulse 0 (no checkpoint was written)";
    return uint64_t{0};
  }
  if (!bytes.ok()) return give_up(bytes.status());
  absl::StatusOr<std::string> metadata = shared_.ReadSessionMetadata(owner, id);
  absl::Status copied = local_.WriteSession(owner, id, *bytes);
  if (copied.ok() && metadata.ok()) copied = local_.WriteSessionMetadata(owner, id, *metadata);
  if (!copied.ok()) return give_up(copied);
  // Verifies the file exactly as a restart would, and registers it.
  absl::StatusOr<LoadReport> report = store_->LoadFromStateDir();
  if (!report.ok()) return give_up(report.status());
  absl::StatusOr<SessionInfo> info = store_->Get(id, owner);
  if (!info.ok()) {
    std::string why = "verification failed";
    for (const std::string& line : report->errors) {
      if (line.find(std::string(id)) != std::string::npos) why = line;
    }
    (void)local_.RemoveSession(owner, id);
    return give_up(absl::DataLossError(absl::StrCat("cannot adopt session ", id,
                                                    " from the shared store: ", why)));
  }
  leases_.ClearHandover(id);
  {
    absl::MutexLock lock(&mu_);
    held_[std::string(id)] =
        Held{std::string(owner), info->pulse_id, info->tokens_in, true, Flags(*info)};
  }
  LOG(INFO) << "shared sessions: adopted session " << id << " of " << owner << " at pulse "
            << info->pulse_id;
  return info->pulse_id;
}

// ---- Writing ----

uint64_t SharedSessions::PublishEpoch(absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  auto it = publish_epoch_.find(id);
  return it == publish_epoch_.end() ? 0 : it->second;
}

bool SharedSessions::WaitForPublish(absl::string_view id, uint64_t epoch_before) const {
  absl::MutexLock lock(&mu_);
  auto epoch = [&] {
    auto it = publish_epoch_.find(id);
    return it == publish_epoch_.end() ? uint64_t{0} : it->second;
  };
  if (epoch() == epoch_before && epoch_before % 2 == 0) return false;  // not us
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (epoch() % 2 == 1) {
    if (publish_done_.WaitWithDeadline(&mu_, deadline)) break;  // timed out
  }
  return true;
}

absl::Status SharedSessions::Publish(const std::string& id, Held* held) {
  {
    absl::MutexLock lock(&mu_);
    ++publish_epoch_[id];  // odd: writing
  }
  absl::Status status = PublishClaimed(id, held);
  {
    absl::MutexLock lock(&mu_);
    ++publish_epoch_[id];  // even: done
  }
  publish_done_.SignalAll();
  return status;
}

absl::Status SharedSessions::PublishClaimed(const std::string& id, Held* held) {
  SessionInfo info;
  std::vector<float> logits;
  HECATE_RETURN_IF_ERROR(store_->WithSession(id, held->owner, [&](SessionLease& lease) {
    info = lease.info();
    logits = lease.next_logits();
    return absl::OkStatus();
  }));
  HECATE_ASSIGN_OR_RETURN(ExportedCheckpoint exported, store_->Export(id, held->owner));
  SessionMetadata metadata;
  metadata.created = info.created;
  metadata.last_used = info.last_used;
  metadata.tokens_in = info.tokens_in;
  metadata.tokens_out = info.tokens_out;
  metadata.keep_on_expiry = info.keep_on_expiry;
  metadata.pinned = info.pinned;
  if (exported.pulse_id == info.pulse_id && !logits.empty()) {
    metadata.next_logits = std::move(logits);
    metadata.next_logits_pulse_id = exported.pulse_id;
  }
  // Only the holder writes: a lost lease stops the write here.
  HECATE_RETURN_IF_ERROR(leases_.Renew(id, absl::Now()));
  HECATE_RETURN_IF_ERROR(shared_.WriteSession(held->owner, id, exported.bytes));
  HECATE_RETURN_IF_ERROR(
      shared_.WriteSessionMetadata(held->owner, id, EncodeSessionMetadata(metadata)));
  held->written = true;
  held->written_pulse = exported.pulse_id;
  held->written_tokens = info.tokens_in;
  held->written_flags = Flags(info);
  return absl::OkStatus();
}

void SharedSessions::Tick(absl::Time now) {
  std::vector<std::pair<std::string, Held>> held;
  bool checkpoint_due = false;
  {
    absl::MutexLock lock(&mu_);
    held.assign(held_.begin(), held_.end());
    if (now >= next_checkpoint_) {
      checkpoint_due = true;
      next_checkpoint_ = now + options_.checkpoint_interval;
    }
  }
  for (auto& [id, h] : held) {
    auto drop_lost = [&, &id = id, &h = h](const absl::Status& lost) {
      LOG(WARNING) << "shared sessions: " << lost << "; dropping session " << id << " here";
      Untrack(id);
      (void)store_->Delete(id, h.owner);
    };
    absl::StatusOr<SessionInfo> info = store_->Get(id, h.owner);
    if (!info.ok()) {  // gone from the store without Forget: let it go
      Untrack(id);
      (void)leases_.Release(id);
      continue;
    }
    // UpdateSession changes the flags alone: written like any other change.
    const bool changed = !h.written || info->pulse_id != h.written_pulse ||
                         info->tokens_in != h.written_tokens ||
                         Flags(*info) != h.written_flags;
    if (leases_.HandoverRequested(id)) {
      // Another replica receives this session's requests: write it, then
      // let it go (only if nothing moved it after the write).
      absl::Status published = changed ? Publish(id, &h) : leases_.Renew(id, now);
      absl::StatusOr<SessionInfo> after = store_->Get(id, h.owner);
      if (published.ok() && after.ok() && after->pulse_id == h.written_pulse &&
          store_->Delete(id, h.owner).ok()) {
        Untrack(id);
        leases_.ClearHandover(id);
        (void)leases_.Release(id);
        LOG(INFO) << "shared sessions: handed session " << id << " over at pulse "
                  << h.written_pulse;
        continue;
      }
      if (absl::IsFailedPrecondition(published)) {
        drop_lost(published);
        continue;
      }
    }
    absl::Status status = absl::OkStatus();
    if (checkpoint_due && changed) {
      status = Publish(id, &h);
      if (status.ok()) {
        absl::MutexLock lock(&mu_);
        auto it = held_.find(id);
        if (it != held_.end()) it->second = h;
      } else if (absl::IsAborted(status)) {
        status = leases_.Renew(id, now);  // busy: written at a later tick
      }
    } else {
      status = leases_.Renew(id, now);
    }
    if (absl::IsFailedPrecondition(status)) {
      drop_lost(status);
    } else if (!status.ok()) {
      LOG(WARNING) << "shared sessions: session " << id << ": " << status;
    }
  }
}

void SharedSessions::ClaimLocalSessions() {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> files =
      local_.ListSessionFiles();
  if (!files.ok()) {
    LOG(WARNING) << "shared sessions: " << files.status();
    return;
  }
  for (const auto& [owner, id] : *files) {
    if (!store_->Get(id, owner).ok()) continue;
    // A shared copy is at least as recent as what a crash left here.
    const bool shared_copy = shared_.ReadSessionMetadata(owner, id).ok() ||
                             shared_.ReadSession(owner, id, kMaxSessionFileBytes).ok();
    absl::Status kept = shared_copy ? absl::AlreadyExistsError("the shared copy wins")
                                    : Track(id, owner);
    if (!kept.ok()) {
      LOG(INFO) << "shared sessions: local session " << id << " of " << owner
                << " dropped (" << kept.message() << ")";
      (void)store_->Delete(id, owner);
    }
  }
}

absl::StatusOr<int> SharedSessions::PublishDrained() {
  std::vector<std::pair<std::string, Held>> held;
  {
    absl::MutexLock lock(&mu_);
    held.assign(held_.begin(), held_.end());
  }
  int published = 0;
  std::string failures;
  for (const auto& [id, h] : held) {
    absl::StatusOr<std::string> bytes = local_.ReadSession(h.owner, id, kMaxSessionFileBytes);
    absl::StatusOr<std::string> metadata = local_.ReadSessionMetadata(h.owner, id);
    absl::Status status = bytes.status();
    if (status.ok()) status = leases_.Renew(id, absl::Now());
    if (status.ok()) status = shared_.WriteSession(h.owner, id, *bytes);
    if (status.ok() && metadata.ok()) {
      status = shared_.WriteSessionMetadata(h.owner, id, *metadata);
    }
    if (!status.ok()) {
      absl::StrAppend(&failures, failures.empty() ? "" : "; ", id, ": ", status.message());
      continue;
    }
    (void)local_.RemoveSession(h.owner, id);  // the shared copy is the one now
    (void)leases_.Release(id);
    Untrack(id);
    ++published;
  }
  if (!failures.empty()) {
    return absl::InternalError(absl::StrCat("sessions not published: ", failures));
  }
  return published;
}

// ---- The renewal thread ----

void SharedSessions::Start() {
  const absl::Duration period =
      std::min(options_.checkpoint_interval, options_.lease_duration / 3);
  thread_ = std::make_unique<std::thread>([this, period] {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stop_), period);
        if (stop_) return;
      }
      Tick(absl::Now());
    }
  });
}

void SharedSessions::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_ != nullptr && thread_->joinable()) thread_->join();
  thread_.reset();
}

}  // namespace hecate
