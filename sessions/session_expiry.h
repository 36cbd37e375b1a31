// ExpirySweeper: runs SessionStore::ExpireIdleByOwner (session_store.h says
// what expiry does) periodically on a thread of its own, so that sessions
// idle longer than their owner's TTL go away without anyone asking. The
// TTLs come from an ExpiryPolicy asked at every pass, so a changed policy
// (hecated's key file reloaded on SIGHUP) counts from the next pass. Start
// and Stop are called by the one owner (hecated's server); Stop waits for a
// pass in progress and is idempotent; the destructor stops. The store must
// outlive the sweeper.
#ifndef HECATE_SESSIONS_SESSION_EXPIRY_H_
#define HECATE_SESSIONS_SESSION_EXPIRY_H_

#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sessions/session_store.h"

namespace hecate {

// How often a sweep for `ttl` runs: a quarter of the TTL, between 10 ms and
// one minute, so a session outlives its TTL by at most that much.
absl::Duration ExpirySweepPeriod(absl::Duration ttl);

// Which TTL applies to whose sessions. A duration of zero or less means
// never.
struct ExpiryPolicy {
  // For owners without a TTL of their own.
  absl::Duration default_ttl = absl::ZeroDuration();
  // An owner's own TTL, or nullopt when the owner has none. Null: nobody has.
  std::function<std::optional<absl::Duration>(absl::string_view owner)> ttl_for_owner;
  // The shortest positive TTL of any owner's own (nullopt: none), which
  // sets how often the sweeper looks. Null: nobody has one.
  std::function<std::optional<absl::Duration>()> shortest_owner_ttl;

  absl::Duration TtlFor(absl::string_view owner) const;
  // The shortest positive TTL in force, nullopt when nothing can expire.
  std::optional<absl::Duration> Shortest() const;
};

class ExpirySweeper {
 public:
  // `on_pass`, optional, is handed every pass's report (logging).
  ExpirySweeper(SessionStore* store, absl::Duration ttl,
                std::function<void(const ExpiryReport&)> on_pass = nullptr);
  // Sweeps every ExpirySweepPeriod(policy.Shortest()), asked again after
  // each pass; while nothing can expire, every minute (the longest period),
  // to notice a policy that changes.
  ExpirySweeper(SessionStore* store, ExpiryPolicy policy,
                std::function<void(const ExpiryReport&)> on_pass = nullptr);
  ExpirySweeper(const ExpirySweeper&) = delete;
  ExpirySweeper& operator=(const ExpirySweeper&) = delete;
  ~ExpirySweeper();

  void Start();
  void Stop();

 private:
  SessionStore* const store_;
  const ExpiryPolicy policy_;
  const std::function<void(const ExpiryReport&)> on_pass_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_SESSION_EXPIRY_H_
