#include "server/metrics/hecate_metrics.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace hecate::metrics {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ServerMetricsTest, RegistersEveryMetricOnceAndRecords) {
  MetricRegistry registry;
  ServerMetricsOptions options;
  options.version = "1.2.3";
  options.backend = "cpu";
  absl::StatusOr<std::unique_ptr<ServerMetrics>> created =
      ServerMetrics::Create(&registry, options);
  ASSERT_TRUE(created.ok()) << created.status();
  ServerMetrics& m = **created;

  std::mt19937_64 rng(std::random_device{}());
  const int streams = 1 + static_cast<int>(rng() % 20);
  const int errors = 1 + static_cast<int>(rng() % 20);
  for (int i = 0; i < streams; ++i) m.ObserveRequest("Stream", "OK", 0.01);
  for (int i = 0; i < errors; ++i) m.ObserveRequest("Stream", "NOT_FOUND", 0.001);
  m.tokens_in->Increment(100);
  m.tokens_out->Increment(7);
  m.active_streams->Increment();
  m.chunk_forward_duration_seconds->Observe(0.002);
  m.chunk_latency_seconds->Observe(0.003);
  m.time_to_first_token_seconds->Observe(0.004);
  m.inter_token_latency_seconds->Observe(0.0005);
  m.batch_size->Observe(3);
  m.CountEviction(kTierDevice, kTierHost);
  m.CountRestore("ok");
  m.CountRestore("pulse_mismatch");
  m.ObserveCheckpoint("save", 0.02, 123456);
  (*m.sessions->WithLabels({kTierHost}))->SetCallback([] { return 5.0; });
  (*m.state_bytes->WithLabels({kTierHost}))->SetCallback([] { return 4096.0; });

  const std::string text = registry.Expose();
  EXPECT_TRUE(Contains(text, "hecate_request_duration_seconds_count{method=\"Stream\",code=\"OK\"} " +
                                 std::to_string(streams) + "\n"));
  EXPECT_TRUE(Contains(text, "hecate_errors_total{method=\"Stream\",code=\"NOT_FOUND\"} " +
                                 std::to_string(errors) + "\n"));
  EXPECT_FALSE(Contains(text, "hecate_errors_total{method=\"Stream\",code=\"OK\"}"));
  EXPECT_TRUE(Contains(text, "hecate_tokens_total{direction=\"in\"} 100\n"));
  EXPECT_TRUE(Contains(text, "hecate_tokens_total{direction=\"out\"} 7\n"));
  EXPECT_TRUE(Contains(text, "hecate_active_streams 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_chunk_forward_duration_seconds_count 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_chunk_latency_seconds{quantile=\"0.99\"} "));
  EXPECT_TRUE(Contains(text, "hecate_chunk_latency_seconds_count 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_time_to_first_token_seconds_count 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_inter_token_latency_seconds_count 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_batch_size_sum 3\n"));
  EXPECT_TRUE(Contains(text, "hecate_sessions{tier=\"host\"} 5\n"));
  EXPECT_TRUE(Contains(text, "hecate_state_bytes{tier=\"host\"} 4096\n"));
  EXPECT_TRUE(Contains(text, "hecate_session_evictions_total{from=\"device\",to=\"host\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_checkpoint_restores_total{result=\"pulse_mismatch\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_checkpoint_duration_seconds_count{operation=\"save\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_checkpoint_size_bytes_sum{operation=\"save\"} 123456\n"));
  EXPECT_TRUE(Contains(text, "hecate_build_info{version=\"1.2.3\",backend=\"cpu\"} 1\n"));
  EXPECT_TRUE(Contains(text, "# TYPE hecate_chunk_latency_seconds summary\n"));

  // A second catalogue in the same registry would export duplicates.
  EXPECT_EQ(ServerMetrics::Create(&registry, options).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ServerMetrics::Create(nullptr, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hecate::metrics
