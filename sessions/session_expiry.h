// ExpirySweeper: runs SessionStore::ExpireIdle (session_store.h says what
// expiry does) every `period` on a thread of its own, so that sessions idle
// longer than the TTL go away without anyone asking. Start and Stop are
// called by the one owner (hecated's server); Stop waits for a pass in
// progress and is idempotent; the destructor stops. The store must outlive
// the sweeper.
#ifndef HECATE_SESSIONS_SESSION_EXPIRY_H_
#define HECATE_SESSIONS_SESSION_EXPIRY_H_

#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sessions/session_store.h"

namespace hecate {

// How often a sweep for `ttl` runs: a quarter of the TTL, between 10 ms and
// one minute, so a session outlives its TTL by at most that much.
absl::Duration ExpirySweepPeriod(absl::Duration ttl);

class ExpirySweeper {
 public:
  // `on_pass`, optional, is handed every pass's report (logging).
  ExpirySweeper(SessionStore* store, absl::Duration ttl,
                std::function<void(const ExpiryReport&)> on_pass = nullptr);
  ExpirySweeper(const ExpirySweeper&) = delete;
  ExpirySweeper& operator=(const ExpirySweeper&) = delete;
  ~ExpirySweeper();

  void Start();
  void Stop();

 private:
  SessionStore* const store_;
  const absl::Duration ttl_;
  const std::function<void(const ExpiryReport&)> on_pass_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace hecate

#endif  // HECATE_SESSIONS_SESSION_EXPIRY_H_
