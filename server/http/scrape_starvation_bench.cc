// Scrape latency of an HTTP metrics port with idle and slow connections open
// (issue 13, item 5). Not a test: run it against a live hecated, e.g.
//
//   bazel-bin/server/hecated --port_file=/tmp/ports &
//   bazel-bin/server/http/scrape_starvation_bench --port=$(sed -n 2p /tmp/ports)
//
// It opens --idle connections that send nothing and --slow ones that send a
// request head one byte per --drip, waits --settle, then scrapes /metrics
// --scrapes times on fresh connections, one after another, and prints the
// latency p50/p90/max and the failures (no complete response within --bound).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/http/hostile_clients.h"

ABSL_FLAG(int, port, 0, "HTTP port to scrape (required)");
ABSL_FLAG(std::string, path, "/metrics", "what to scrape");
ABSL_FLAG(int, idle, 1000, "idle connections");
ABSL_FLAG(int, slow, 200, "slow-header connections");
ABSL_FLAG(absl::Duration, drip, absl::Seconds(1), "one byte per this, per slow connection");
ABSL_FLAG(absl::Duration, settle, absl::Seconds(3), "wait after opening them");
ABSL_FLAG(int, scrapes, 50, "scrapes");
ABSL_FLAG(absl::Duration, bound, absl::Seconds(60), "a scrape fails past this");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  if (port <= 0) {
    std::fprintf(stderr, "--port is required\n");
    return 2;
  }
  const int idle = absl::GetFlag(FLAGS_idle);
  const int slow = absl::GetFlag(FLAGS_slow);
  hecate::http::RaiseFileLimit(2L * (idle + slow) + 256);
  hecate::http::HostileClients hostile(port);
  if (absl::Status s = hostile.OpenIdle(idle); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  if (slow > 0) {
    if (absl::Status s = hostile.OpenSlow(slow, absl::GetFlag(FLAGS_drip)); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 1;
    }
  }
  absl::SleepFor(absl::GetFlag(FLAGS_settle));
  std::vector<double> ok_seconds;
  int failed = 0;
  std::string first_error;
  for (int i = 0; i < absl::GetFlag(FLAGS_scrapes); ++i) {
    const hecate::http::ScrapeResult r =
        hecate::http::Scrape(port, absl::GetFlag(FLAGS_path), absl::GetFlag(FLAGS_bound));
    if (r.ok && r.status == 200) {
      ok_seconds.push_back(r.seconds);
    } else {
      ++failed;
      if (first_error.empty()) first_error = r.ok ? "status " + std::to_string(r.status) : r.error;
    }
  }
  std::sort(ok_seconds.begin(), ok_seconds.end());
  auto at = [&](double q) {
    return ok_seconds.empty() ? 0.0
                              : ok_seconds[std::min(ok_seconds.size() - 1,
                                                    static_cast<size_t>(q * ok_seconds.size()))];
  };
  std::printf(
      "idle=%d slow=%d: %zu scrapes ok, %d failed; latency p50 %.4f s, p90 %.4f s, "
      "max %.4f s%s%s\n",
      idle, slow, ok_seconds.size(), failed, at(0.5), at(0.9),
      ok_seconds.empty() ? 0.0 : ok_seconds.back(), failed ? "; first failure: " : "",
      first_error.c_str());
  return failed == 0 ? 0 : 1;
}
