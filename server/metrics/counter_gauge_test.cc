#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "server/metrics/callback_gauge.h"
#include "server/metrics/counter.h"
#include "server/metrics/gauge.h"
#include "server/metrics/text_format.h"

namespace hecate::metrics {
namespace {

TEST(CounterTest, SumsIncrementsAndRejectsBadOnes) {
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_int_distribution<int> amount(0, 1000);
  Counter counter;
  double expected = 0;
  for (int i = 0; i < 1000; ++i) {
    const double delta = amount(rng);
    counter.Increment(delta);
    expected += delta;
  }
  counter.Increment();
  expected += 1;
  EXPECT_EQ(counter.Value(), expected);  // integers: exact
  counter.Increment(-1);
  counter.Increment(std::nan(""));
  counter.Increment(std::numeric_limits<double>::infinity());
  EXPECT_EQ(counter.Value(), expected);
  EXPECT_EQ(counter.rejected_increments(), 3u);
  std::string out;
  counter.AppendSamples("c_total", "", &out);
  EXPECT_EQ(out, "c_total " + FormatDouble(expected) + "\n");
}

TEST(GaugeTest, SetAddIncrementDecrement) {
  std::mt19937_64 rng(std::random_device{}());
  const double start = std::uniform_real_distribution<double>(-100, 100)(rng);
  Gauge gauge;
  gauge.Set(start);
  gauge.Add(2.5);
  gauge.Increment();
  gauge.Decrement();
  gauge.Decrement();
  EXPECT_DOUBLE_EQ(gauge.Value(), start + 1.5);
  gauge.Set(std::nan(""));
  std::string out;
  gauge.AppendSamples("g", "t=\"x\"", &out);
  EXPECT_EQ(out, "g{t=\"x\"} NaN\n");
}

TEST(CallbackGaugeTest, EvaluatedAtScrapeTimeAndClearable) {
  CallbackGauge gauge;
  std::string out;
  gauge.AppendSamples("sessions", "tier=\"host\"", &out);
  EXPECT_EQ(out, "");  // no callback, no sample
  EXPECT_FALSE(gauge.Value().has_value());

  auto source = std::make_shared<int>(3);
  gauge.SetCallback([source] { return static_cast<double>(*source); });
  *source = 7;  // read when scraped, not when set
  out.clear();
  gauge.AppendSamples("sessions", "tier=\"host\"", &out);
  EXPECT_EQ(out, "sessions{tier=\"host\"} 7\n");

  std::weak_ptr<int> weak = source;
  source.reset();
  EXPECT_FALSE(weak.expired());  // the callback still holds it
  gauge.ClearCallback();
  EXPECT_TRUE(weak.expired());   // released by ClearCallback
  EXPECT_FALSE(gauge.Value().has_value());
}

}  // namespace
}  // namespace hecate::metrics
