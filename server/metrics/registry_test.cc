#include "server/metrics/registry.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hecate::metrics {
namespace {

TEST(RegistryTest, GoldenExposition) {
  MetricRegistry registry;
  absl::StatusOr<Family<Counter>*> requests = registry.AddCounter(
      "demo_requests_total", "Requests handled.", {"method", "code"});
  absl::StatusOr<Family<Gauge>*> streams =
      registry.AddGauge("demo_active_streams", "Open streams.");
  absl::StatusOr<Family<Histogram>*> latency = registry.AddHistogram(
      "demo_latency_seconds", "Latency.", {"method"}, {{0.1, 1}});
  absl::StatusOr<Family<CallbackGauge>*> sessions =
      registry.AddCallbackGauge("demo_sessions", "Sessions per tier.", {"tier"});
  absl::StatusOr<Family<Counter>*> unused =
      registry.AddCounter("demo_unused_total", "Never used.", {"x"});
  ASSERT_TRUE(requests.ok() && streams.ok() && latency.ok() && sessions.ok() &&
              unused.ok());

  (*(*requests)->WithLabels({"Stream", "OK"}))->Increment(3);
  (*(*requests)->WithLabels({"Get", "NOT_FOUND"}))->Increment();
  (*(*streams)->WithLabels({}))->Set(2);
  Histogram* get = *(*latency)->WithLabels({"Get"});
  get->Observe(0.05);
  get->Observe(0.5);
  get->Observe(5);
  (*(*sessions)->WithLabels({"host"}))->SetCallback([] { return 4.0; });
  (*(*sessions)->WithLabels({"device"}))->SetCallback([] { return 1.0; });

  EXPECT_EQ(registry.Expose(),
            "# HELP demo_active_streams Open streams.\n"
            "# TYPE demo_active_streams gauge\n"
            "demo_active_streams 2\n"
            "# HELP demo_latency_seconds Latency.\n"
            "# TYPE demo_latency_seconds histogram\n"
            "demo_latency_seconds_bucket{method=\"Get\",le=\"0.1\"} 1\n"
            "demo_latency_seconds_bucket{method=\"Get\",le=\"1\"} 2\n"
            "demo_latency_seconds_bucket{method=\"Get\",le=\"+Inf\"} 3\n"
            "demo_latency_seconds_sum{method=\"Get\"} 5.55\n"
            "demo_latency_seconds_count{method=\"Get\"} 3\n"
            "# HELP demo_requests_total Requests handled.\n"
            "# TYPE demo_requests_total counter\n"
            "demo_requests_total{method=\"Get\",code=\"NOT_FOUND\"} 1\n"
            "demo_requests_total{method=\"Stream\",code=\"OK\"} 3\n"
            "# HELP demo_sessions Sessions per tier.\n"
            "# TYPE demo_sessions gauge\n"
            "demo_sessions{tier=\"device\"} 1\n"
            "demo_sessions{tier=\"host\"} 4\n");
}

TEST(RegistryTest, EscapesHelpAndLabelValues) {
  MetricRegistry registry;
  absl::StatusOr<Family<Counter>*> family = registry.AddCounter(
      "esc_total", "Line one\nback\\slash \"quotes\" stay", {"path"});
  ASSERT_TRUE(family.ok());
  (*(*family)->WithLabels({"C:\\dir\n\"x\""}))->Increment();
  EXPECT_EQ(registry.Expose(),
            "# HELP esc_total Line one\\nback\\\\slash \"quotes\" stay\n"
            "# TYPE esc_total counter\n"
            "esc_total{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(RegistryTest, RejectsInvalidRegistrations) {
  MetricRegistry registry;
  auto code = [](const auto& result) { return result.status().code(); };
  EXPECT_EQ(code(registry.AddCounter("1bad", "h")),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddCounter("bad-name", "h")),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddCounter("", "h")),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddCounter("ok_total", "h", {"le"})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddCounter("ok_total", "h", {"quantile"})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddCounter("ok_total", "h", {"__reserved"})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddCounter("ok_total", "h", {"a:b"})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddCounter("ok_total", "h", {"a", "a"})),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddCounter("ok_total", "bad \xff help")),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(registry.AddHistogram("h_seconds", "h", {}, {{2, 1}})),
            absl::StatusCode::kInvalidArgument);
  SlidingWindowSummary::Options bad_summary;
  bad_summary.quantiles = {2.0};
  EXPECT_EQ(code(registry.AddSummary("s_seconds", "h", {}, bad_summary)),
            absl::StatusCode::kInvalidArgument);
  // Nothing was registered by the failures: the names are still free.
  EXPECT_EQ(registry.Expose(), "");
  EXPECT_TRUE(registry.AddCounter("ok_total", "h").ok());
  EXPECT_TRUE(registry.AddHistogram("h_seconds", "h", {}, {{1, 2}}).ok());
  EXPECT_TRUE(registry.AddSummary("s_seconds", "h", {}).ok());
}

TEST(RegistryTest, RejectsNameClashesIncludingSuffixes) {
  MetricRegistry registry;
  ASSERT_TRUE(registry.AddHistogram("x_seconds", "h", {}, {{1}}).ok());
  for (const char* name : {"x_seconds", "x_seconds_bucket", "x_seconds_sum",
                           "x_seconds_count"}) {
    EXPECT_EQ(registry.AddGauge(name, "h").status().code(),
              absl::StatusCode::kAlreadyExists)
        << name;
  }
  ASSERT_TRUE(registry.AddCounter("y_count", "h").ok());
  EXPECT_EQ(registry.AddSummary("y", "h", {}).status().code(),
            absl::StatusCode::kAlreadyExists);
  // The failed summary left no trace: "y" alone is still free.
  EXPECT_TRUE(registry.AddGauge("y", "h").ok());
}

TEST(RegistryTest, WithLabelsChecksArityAndUtf8AndReturnsStableChildren) {
  MetricRegistry registry;
  Family<Counter>* family = *registry.AddCounter("c_total", "h", {"a", "b"});
  EXPECT_EQ(family->WithLabels({"x"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(family->WithLabels({"x", "y", "z"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(family->WithLabels({"x", "\xc3"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Expose(), "");  // failures created no child
  std::mt19937_64 rng(std::random_device{}());
  std::vector<Counter*> children;
  for (int i = 0; i < 50; ++i) {
    children.push_back(*family->WithLabels({std::to_string(i), "v"}));
  }
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(*family->WithLabels({std::to_string(i), "v"}), children[i]);
  }
  const int pick = static_cast<int>(rng() % 50);
  children[pick]->Increment(9);
  EXPECT_NE(registry.Expose().find("c_total{a=\"" + std::to_string(pick) +
                                   "\",b=\"v\"} 9\n"),
            std::string::npos);
}

TEST(RegistryTest, SummaryExposition) {
  MetricRegistry registry;
  SlidingWindowSummary::Options options;
  options.quantiles = {0.5};
  Family<SlidingWindowSummary>* family =
      *registry.AddSummary("s_seconds", "Window.", {}, options);
  (*family->WithLabels({}))->Observe(2.0);
  EXPECT_EQ(registry.Expose(),
            "# HELP s_seconds Window.\n"
            "# TYPE s_seconds summary\n"
            "s_seconds{quantile=\"0.5\"} " + FormatDouble(2.0 + 2.0 / 128) +
                "\n"
                "s_seconds_sum 2\n"
                "s_seconds_count 1\n");
}

}  // namespace
}  // namespace hecate::metrics
