// HostileClients: the connections that starved the old metrics port (issue
// 13, item 5), for the starvation test and the scrape benchmark. Idle
// connections connect and send nothing; slow ones send a request head one
// byte per `drip_interval` and never finish it. Whatever the server does to
// them (close, reset) is ignored.
//
//   HostileClients hostile(port);
//   hostile.OpenIdle(1000);
//   hostile.OpenSlow(200, absl::Seconds(1));
//   ScrapeResult r = Scrape(port, "/metrics", absl::Seconds(5));
#ifndef HECATE_SERVER_HTTP_HOSTILE_CLIENTS_H_
#define HECATE_SERVER_HTTP_HOSTILE_CLIENTS_H_

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace hecate::http {

// Raises this process's soft RLIMIT_NOFILE to at least `wanted` (up to the
// hard limit); returns the soft limit in force afterwards.
long RaiseFileLimit(long wanted);

// A blocking loopback connection to `port`, or -1 with errno set.
int ConnectLoopback(int port);

class HostileClients {
 public:
  explicit HostileClients(int port) : port_(port) {}
  ~HostileClients();  // stops dripping, closes every connection
  HostileClients(const HostileClients&) = delete;
  HostileClients& operator=(const HostileClients&) = delete;

  // Opens `n` connections that send nothing.
  absl::Status OpenIdle(int n);
  // Opens `n` connections and, from a thread, sends each one byte of an
  // endless request head every `drip_interval`.
  absl::Status OpenSlow(int n, absl::Duration drip_interval);

  int idle_count() const { return static_cast<int>(idle_.size()); }

 private:
  void Drip(absl::Duration interval);

  const int port_;
  std::vector<int> idle_;
  std::mutex slow_mu_;
  std::vector<int> slow_;  // guarded by slow_mu_
  std::atomic<bool> stop_{false};
  std::thread dripper_;
};

struct ScrapeResult {
  bool ok = false;      // a complete response arrived within the bound
  int status = 0;
  std::string body;
  double seconds = 0;   // connect to last byte
  std::string error;    // why not ok
};

// One scrape on a fresh connection: GET `path` with Connection: close, read
// to EOF; gives up after `bound`.
ScrapeResult Scrape(int port, const std::string& path, absl::Duration bound);

}  // namespace hecate::http

#endif  // HECATE_SERVER_HTTP_HOSTILE_CLIENTS_H_
