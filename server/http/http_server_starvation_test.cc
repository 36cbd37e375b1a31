// Issue 13, item 5: idle and slow connections must not starve a scrape. With
// cpp-httplib's thread pool, 100 idle connections made a scrape take 48 s and
// 200 slow-header ones made every scrape fail. Here 1000 idle and 300 slow
// (one byte a second) connections are open while /metrics and /healthz are
// scraped; every scrape must complete. The 5 s bound only detects the hang
// (the old server needed minutes); the latencies are printed, not asserted.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "server/http/hostile_clients.h"
#include "server/http/http_server.h"
#include "server/metrics/exposition.h"

namespace hecate::http {
namespace {

constexpr int kIdle = 1000;
constexpr int kSlow = 300;
constexpr absl::Duration kScrapeBound = absl::Seconds(5);

class HttpServerStarvationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Both ends of every connection live in this process.
    const long wanted = 2 * (kIdle + 2 * kSlow) + 256;
    const long limit = RaiseFileLimit(wanted);
    if (limit < wanted) {
      GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << limit << " < " << wanted;
    }
    prometheus::BuildCounter()
        .Name("starvation_test_total")
        .Help("Something to expose.")
        .Register(registry_)
        .Add({})
        .Increment(7);
  }

  // Scrapes /metrics and /healthz `rounds` times each; every one must
  // complete. Prints the latencies.
  void ScrapeRepeatedly(int port, int rounds, const char* label) {
    std::vector<double> seconds;
    for (int i = 0; i < rounds; ++i) {
      for (const char* path : {"/metrics", "/healthz"}) {
        const ScrapeResult r = Scrape(port, path, kScrapeBound);
        ASSERT_TRUE(r.ok) << label << " " << path << ": " << r.error;
        EXPECT_EQ(r.status, 200) << path;
        if (std::string(path) == "/healthz") {
          EXPECT_EQ(r.body, "ok\n");
        } else {
          EXPECT_NE(r.body.find("starvation_test_total 7\n"), std::string::npos);
        }
        seconds.push_back(r.seconds);
      }
    }
    std::sort(seconds.begin(), seconds.end());
    std::printf("%s: %zu scrapes, latency p50 %.4f s, max %.4f s\n", label,
                seconds.size(), seconds[seconds.size() / 2], seconds.back());
  }

  prometheus::Registry registry_;
};

TEST_F(HttpServerStarvationTest, ScrapesCompleteWithIdleAndSlowConnectionsOpen) {
  HttpServer server({&registry_}, nullptr);  // hecated's defaults
  ASSERT_TRUE(server.Start("127.0.0.1:0").ok());
  HostileClients hostile(server.port());

  ASSERT_TRUE(hostile.OpenIdle(kIdle).ok());
  ScrapeRepeatedly(server.port(), 5, "1000 idle connections");

  ASSERT_TRUE(hostile.OpenSlow(kSlow, absl::Seconds(1)).ok());
  ScrapeRepeatedly(server.port(), 5, "1000 idle + 300 slow connections");

  // Slow ones only, some of them well into their heads (a few bytes each).
  HostileClients slow_only(server.port());
  ASSERT_TRUE(slow_only.OpenSlow(kSlow, absl::Milliseconds(300)).ok());
  ScrapeRepeatedly(server.port(), 5, "+ 300 slow connections at 3 bytes/s");

  server.Stop();  // prompt, whatever the clients do
  EXPECT_FALSE(server.running());
}

}  // namespace
}  // namespace hecate::http
