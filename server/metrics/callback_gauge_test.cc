#include "server/metrics/callback_gauge.h"

#include <atomic>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "server/metrics/exposition.h"

namespace hecate::metrics {
namespace {

TEST(CallbackGaugeTest, AsksTheCallbacksOnlyWhenScraped) {
  CallbackGauge gauge("test_sessions", "Sessions per tier.", {"tier"});
  EXPECT_EQ(SerializeText({&gauge}), "");  // no callback: no family
  std::atomic<int> calls{0};
  double value = 3;
  ASSERT_TRUE(gauge.SetCallback({"host"}, [&] {
    ++calls;
    return value;
  }));
  ASSERT_TRUE(gauge.SetCallback({"disk"}, [] { return 0.5; }));
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(SerializeText({&gauge}),
            "# HELP test_sessions Sessions per tier.\n"
            "# TYPE test_sessions gauge\n"
            "test_sessions{tier=\"disk\"} 0.5\n"
            "test_sessions{tier=\"host\"} 3\n");
  EXPECT_EQ(calls.load(), 1);
  value = 7;
  EXPECT_NE(SerializeText({&gauge}).find("test_sessions{tier=\"host\"} 7\n"), std::string::npos);

  ASSERT_TRUE(gauge.ClearCallback({"host"}));
  const std::string text = SerializeText({&gauge});
  EXPECT_EQ(text.find("tier=\"host\""), std::string::npos) << text;
  EXPECT_EQ(calls.load(), 2);
  EXPECT_FALSE(gauge.SetCallback({"host", "extra"}, [] { return 1.0; }));
}

// After ClearCallback returns, the callback never runs again: what it
// captured may be destroyed while another thread scrapes.
TEST(CallbackGaugeTest, ClearWaitsForARunningScrape) {
  CallbackGauge gauge("test_bytes", "Bytes.", {"tier"});
  std::atomic<bool> stop{false};
  std::thread scraper([&] {
    while (!stop.load()) SerializeText({&gauge});
  });
  for (int i = 0; i < 200; ++i) {
    auto owned = std::make_unique<double>(i);
    gauge.SetCallback({"host"}, [p = owned.get()] { return *p; });
    gauge.ClearCallback({"host"});
    owned.reset();  // a scrape still calling the callback would read freed memory (ASan)
  }
  stop.store(true);
  scraper.join();
}

}  // namespace
}  // namespace hecate::metrics
