// SessionStore::ExpireIdle and the thread that runs it (session_store.h,
// session_expiry.h).
#include "sessions/session_expiry.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sessions/session_store.h"

namespace hecate {

std::string ExpiryCheckpointName(absl::string_view session_id) {
  return absl::StrCat("expired-", session_id);
}

ExpiryReport SessionStore::ExpireIdle(absl::Duration ttl, absl::Time now) {
  if (ttl <= absl::ZeroDuration()) return ExpiryReport();
  return ExpireIdleByOwner([ttl](absl::string_view) { return ttl; }, now);
}

ExpiryReport SessionStore::ExpireIdleByOwner(
    absl::FunctionRef<absl::Duration(absl::string_view owner)> ttl_for, absl::Time now) {
  ExpiryReport report;
  std::vector<std::pair<std::shared_ptr<Session>, absl::Time>> scanned;
  {
    absl::MutexLock lock(&mu_);
    scanned.reserve(sessions_.size());
    for (const auto& [id, entry] : sessions_) {
      scanned.emplace_back(entry.session, entry.session->Info().last_used);
    }
  }
  // Asked outside the lock: the TTLs come from elsewhere (the key file).
  absl::flat_hash_map<std::string, absl::Duration> ttls;
  auto ttl_of = [&](const std::string& owner) {
    auto it = ttls.find(owner);
    if (it == ttls.end()) it = ttls.emplace(owner, ttl_for(owner)).first;
    return it->second;
  };
  std::vector<std::pair<std::shared_ptr<Session>, absl::Duration>> candidates;
  for (auto& [session, last_used] : scanned) {
    const absl::Duration ttl = ttl_of(session->owner());
    if (ttl > absl::ZeroDuration() && now - last_used > ttl) {
      candidates.emplace_back(std::move(session), ttl);
    }
  }
  for (const auto& [candidate, ttl] : candidates) {
    Session& session = *candidate;
    // Never waits: a session someone holds is in use, so not idle.
    if (!session.TryBeginWrite(Session::Claimant::kDaemon)) continue;
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

absl::Duration ExpiryPolicy::TtlFor(absl::string_view owner) const {
  if (ttl_for_owner) {
    if (std::optional<absl::Duration> own = ttl_for_owner(owner); own.has_value()) return *own;
  }
  return default_ttl;
}

std::optional<absl::Duration> ExpiryPolicy::Shortest() const {
  std::optional<absl::Duration> shortest;
  if (default_ttl > absl::ZeroDuration()) shortest = default_ttl;
  if (shortest_owner_ttl) {
    std::optional<absl::Duration> own = shortest_owner_ttl();
    if (own.has_value() && *own > absl::ZeroDuration() && (!shortest || *own < *shortest)) {
      shortest = own;
    }
  }
  return shortest;
}

ExpirySweeper::ExpirySweeper(SessionStore* store, absl::Duration ttl,
                             std::function<void(const ExpiryReport&)> on_pass)
    : ExpirySweeper(store, ExpiryPolicy{ttl, nullptr, nullptr}, std::move(on_pass)) {}

ExpirySweeper::ExpirySweeper(SessionStore* store, ExpiryPolicy policy,
                             std::function<void(const ExpiryReport&)> on_pass)
    : store_(store), policy_(std::move(policy)), on_pass_(std::move(on_pass)) {}

ExpirySweeper::~ExpirySweeper() { Stop(); }

void ExpirySweeper::Start() {
  thread_ = std::make_unique<std::thread>([this] {
    for (;;) {
      const std::optional<absl::Duration> shortest = policy_.Shortest();
      const absl::Duration period =
          shortest.has_value() ? ExpirySweepPeriod(*shortest) : absl::Minutes(1);
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stop_), period);
        if (stop_) return;
      }
      if (!shortest.has_value() && !policy_.Shortest().has_value()) continue;
      ExpiryReport report = store_->ExpireIdleByOwner(
          [this](absl::string_view owner) { return policy_.TtlFor(owner); }, absl::Now());
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
