// SessionStore::ExpireIdle and the thread that runs it (session_store.h,
// session_expiry.h).
#include "sessions/session_expiry.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sessions/session_store.h"

namespace hecate {

std::string ExpiryCheckpointName(absl::string_view session_id) {
  return absl::StrCat("expired-", session_id);
}

ExpiryReport SessionStore::ExpireIdle(absl::Duration ttl, absl::Time now) {
  ExpiryReport report;
  if (ttl <= absl::ZeroDuration()) return report;
  std::vector<std::shared_ptr<Session>> candidates;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, entry] : sessions_) {
      if (now - entry.session->Info().last_used > ttl) candidates.push_back(entry.session);
    }
  }
  for (const std::shared_ptr<Session>& candidate : candidates) {
    Session& session = *candidate;
    // Never waits: a session someone holds is in use, so not idle.
    if (!session.TryBeginWrite()) continue;
    // Used between the scan and the claim: no longer idle.
    if (now - session.Info().last_used <= ttl) {
      session.EndWrite();
      continue;
    }
    const bool keep = session.keep_on_expiry();
    absl::Status status = absl::OkStatus();
    if (keep) {
      const absl::Time start = absl::Now();
      absl::StatusOr<std::string> bytes = absl::DataLossError(session.damage());
      if (named_ == nullptr) {
        bytes = absl::FailedPreconditionError("no state directory to store checkpoints in");
      } else if (session.damage().empty()) {
        bytes = CheckpointBytes(session);
      }
      if (bytes.ok()) {
        status = named_->Write(session.owner(), ExpiryCheckpointName(session.id()), *bytes);
      } else {
        status = bytes.status();
      }
      Notify(CheckpointEvent::Kind::kExport, bytes.ok() ? bytes->size() : 0, start, status);
    }
    if (status.ok() && dir_.has_value()) {
      status = dir_->RemoveSession(session.owner(), session.id());
      if (absl::IsNotFound(status)) status = absl::OkStatus();
    }
    if (!status.ok()) {
      // Never lost silently: the session stays, the failure is reported.
      session.EndWrite();
      ++report.failed;
      if (options_.observer != nullptr) options_.observer->OnExpiry(ExpiryResult::kFailed);
      report.errors.push_back(
          absl::StrCat("session ", session.id(), " of ", session.owner(),
                       " not expired: ", status.ToString()));
      continue;
    }
    report.expired.emplace_back(session.id(), session.owner());
    DropClaimed(session);
    ++(keep ? report.kept : report.deleted);
    if (options_.observer != nullptr) {
      options_.observer->OnExpiry(keep ? ExpiryResult::kKept : ExpiryResult::kDeleted);
    }
  }
  return report;
}

absl::Duration ExpirySweepPeriod(absl::Duration ttl) {
  return std::clamp(ttl / 4, absl::Milliseconds(10), absl::Minutes(1));
}

ExpirySweeper::ExpirySweeper(SessionStore* store, absl::Duration ttl,
                             std::function<void(const ExpiryReport&)> on_pass)
    : store_(store), ttl_(ttl), on_pass_(std::move(on_pass)) {}

ExpirySweeper::~ExpirySweeper() { Stop(); }

void ExpirySweeper::Start() {
  const absl::Duration period = ExpirySweepPeriod(ttl_);
  thread_ = std::make_unique<std::thread>([this, period] {
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stop_), period);
        if (stop_) return;
      }
      ExpiryReport report = store_->ExpireIdle(ttl_, absl::Now());
      if (on_pass_) on_pass_(report);
    }
  });
}

void ExpirySweeper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_ != nullptr && thread_->joinable()) thread_->join();
  thread_.reset();
}

}  // namespace hecate
