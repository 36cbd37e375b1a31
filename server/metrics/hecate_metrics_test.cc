#include "server/metrics/hecate_metrics.h"

#include <random>
#include <string>
#include <vector>

#include "base/test_seed.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/metrics/exposition.h"

namespace hecate::metrics {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ServerMetricsTest, RegistersEveryMetricOnceAndRecords) {
  prometheus::Registry registry(prometheus::Registry::InsertBehavior::Throw);
  ServerMetricsOptions options;
  options.version = "1.2.3";
  options.backend = "cpu";
  absl::StatusOr<std::unique_ptr<ServerMetrics>> created =
      ServerMetrics::Create(&registry, options);
  ASSERT_TRUE(created.ok()) << created.status();
  ServerMetrics& m = **created;

  std::mt19937_64 rng(TestSeed());
  const int streams = 1 + static_cast<int>(rng() % 20);
  const int errors = 1 + static_cast<int>(rng() % 20);
  for (int i = 0; i < streams; ++i) m.ObserveRequest("Stream", "OK", 0.01);
  for (int i = 0; i < errors; ++i) m.ObserveRequest("Stream", "NOT_FOUND", 0.001);
  m.tokens_in->Increment(100);
  m.tokens_out->Increment(7);
  m.active_streams->Add(2);
  m.active_streams->Add(-1);
  m.chunk_forward_duration_seconds->Observe(0.002);
  m.chunk_latency_seconds->Observe(0.003);
  m.time_to_first_token_seconds->Observe(0.004);
  m.inter_token_latency_seconds->Observe(0.0005);
  m.batch_size->Observe(3);
  m.CountEviction(kTierDevice, kTierHost);
  m.CountRestore("ok");
  m.CountRestore("pulse_mismatch");
  m.ObserveCheckpoint("save", 0.02, 123456);
  m.sessions[1]->Set(5);  // kTierNames[1] == kTierHost
  m.state_bytes[1]->Set(4096);

  // prometheus-cpp writes labels sorted by name.
  const std::string text = SerializeText(m.Collectables());
  EXPECT_TRUE(Contains(text, "hecate_request_duration_seconds_count{code=\"OK\",method=\"Stream\"} " +
                                 std::to_string(streams) + "\n")) << text;
  EXPECT_TRUE(Contains(text, "hecate_errors_total{code=\"NOT_FOUND\",method=\"Stream\"} " +
                                 std::to_string(errors) + "\n"));
  EXPECT_FALSE(Contains(text, "hecate_errors_total{code=\"OK\""));
  EXPECT_TRUE(Contains(text, "hecate_tokens_total{direction=\"in\"} 100\n"));
  EXPECT_TRUE(Contains(text, "hecate_tokens_total{direction=\"out\"} 7\n"));
  EXPECT_TRUE(Contains(text, "hecate_active_streams 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_chunk_forward_duration_seconds_count 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_chunk_latency_seconds{quantile=\"0.99\"} 0.003\n"));
  EXPECT_TRUE(Contains(text, "hecate_chunk_latency_seconds_count 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_time_to_first_token_seconds_count 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_inter_token_latency_seconds_count 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_batch_size_sum 3\n"));
  EXPECT_TRUE(Contains(text, "hecate_batch_size_bucket{le=\"4\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_sessions{tier=\"host\"} 5\n"));
  EXPECT_TRUE(Contains(text, "hecate_state_bytes{tier=\"host\"} 4096\n"));
  EXPECT_TRUE(Contains(text, "hecate_sessions{tier=\"device\"} 0\n"));  // present from the start
  EXPECT_TRUE(Contains(text, "hecate_session_evictions_total{from=\"device\",to=\"host\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_checkpoint_restores_total{result=\"pulse_mismatch\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_checkpoint_duration_seconds_count{operation=\"save\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_checkpoint_size_bytes_sum{operation=\"save\"} 123456\n"));
  EXPECT_TRUE(Contains(text, "hecate_build_info{backend=\"cpu\",version=\"1.2.3\"} 1\n"));
  EXPECT_TRUE(Contains(text, "# TYPE hecate_chunk_latency_seconds summary\n"));
  EXPECT_TRUE(Contains(text, "# TYPE hecate_sessions gauge\n"));
  EXPECT_TRUE(Contains(text,
                       "# HELP hecate_chunk_latency_seconds Latency of one chunk from request to "
                       "reply; quantiles over the last 1m, _sum and _count since start.\n"));

  // A second catalogue in the same registry would export duplicates.
  EXPECT_EQ(ServerMetrics::Create(&registry, options).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ServerMetrics::Create(nullptr, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  ServerMetricsOptions no_window = options;
  no_window.chunk_latency_window = absl::ZeroDuration();
  prometheus::Registry other;
  EXPECT_EQ(ServerMetrics::Create(&other, no_window).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ServerMetricsTest, EngineStepAndPerUserMetrics) {
  prometheus::Registry registry;
  std::unique_ptr<ServerMetrics> m = *ServerMetrics::Create(&registry, ServerMetricsOptions());
  // Present from the start, at 0, before the engine observes anything.
  std::string text = SerializeText(m->Collectables());
  EXPECT_TRUE(Contains(text, "hecate_queue_wait_seconds_count 0\n")) << text;
  EXPECT_TRUE(Contains(text, "hecate_step_duration_seconds_count 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_step_host_seconds_count 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_step_tokens_count{kind=\"decode\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_step_tokens_count{kind=\"prefill\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_promotion_duration_seconds_count{from=\"host\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_promotion_duration_seconds_count{from=\"disk\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_snapshot_duration_seconds_count{how=\"spare\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_snapshot_duration_seconds_count{how=\"download\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_snapshots_deferred_total 0\n"));
  EXPECT_FALSE(Contains(text, "hecate_user_tokens_total"));  // no user yet: no family written

  std::mt19937_64 rng(TestSeed());
  const int steps = 1 + static_cast<int>(rng() % 50);
  uint64_t decode_tokens = 0;
  for (int i = 0; i < steps; ++i) {
    const uint64_t n = 1 + rng() % 1024;
    decode_tokens += n;
    m->ObserveStep(0.001, static_cast<int64_t>(n), 0);
  }
  m->step_tokens_prefill->Observe(2048);
  m->ObserveStep(0.002, 0, 0);  // a step's duration; no kind without tokens
  m->queue_wait_seconds->Observe(0.00003);
  m->ObservePromotion(kTierDisk, 0.5);
  m->ObservePromotion(kTierHost, 0.0002);
  m->ObserveSnapshot("spare", 0.25);
  m->CountDeferredSnapshot();
  m->CountDeferredSnapshot();
  m->CountUserTokens("alice", 10, 3);
  m->CountUserTokens("alice", 5, 0);
  m->CountUserTokens("bob", 0, 4);
  ServerMetrics::UserTokens carol = m->ForUser("carol");
  EXPECT_EQ(m->ForUser("carol").in, carol.in);  // the same children every time
  carol.out->Increment(2);

  text = SerializeText(m->Collectables());
  EXPECT_TRUE(Contains(text, "hecate_step_tokens_count{kind=\"decode\"} " +
                                 std::to_string(steps) + "\n")) << text;
  EXPECT_TRUE(Contains(text, "hecate_step_tokens_sum{kind=\"decode\"} " +
                                 std::to_string(decode_tokens) + "\n"));
  EXPECT_TRUE(Contains(text, "hecate_step_tokens_bucket{kind=\"prefill\",le=\"2048\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_step_tokens_bucket{kind=\"prefill\",le=\"1024\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_step_duration_seconds_count " + std::to_string(steps + 1) + "\n"));
  EXPECT_TRUE(Contains(text, "hecate_step_tokens_count{kind=\"prefill\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_queue_wait_seconds_bucket{le=\"4e-05\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_queue_wait_seconds_bucket{le=\"2e-05\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_promotion_duration_seconds_sum{from=\"disk\"} 0.5\n"));
  EXPECT_TRUE(Contains(text, "hecate_promotion_duration_seconds_count{from=\"host\"} 1\n"));
  EXPECT_TRUE(Contains(text, "hecate_snapshot_duration_seconds_sum{how=\"spare\"} 0.25\n"));
  EXPECT_TRUE(Contains(text, "hecate_snapshot_duration_seconds_count{how=\"download\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_snapshots_deferred_total 2\n"));
  EXPECT_TRUE(Contains(text, "hecate_user_tokens_total{direction=\"in\",user=\"alice\"} 15\n"));
  EXPECT_TRUE(Contains(text, "hecate_user_tokens_total{direction=\"out\",user=\"alice\"} 3\n"));
  EXPECT_TRUE(Contains(text, "hecate_user_tokens_total{direction=\"in\",user=\"bob\"} 0\n"));
  EXPECT_TRUE(Contains(text, "hecate_user_tokens_total{direction=\"out\",user=\"bob\"} 4\n"));
  EXPECT_TRUE(Contains(text, "hecate_user_tokens_total{direction=\"out\",user=\"carol\"} 2\n"));
  EXPECT_TRUE(Contains(text, "# TYPE hecate_step_tokens histogram\n"));
}

TEST(ServerMetricsTest, LabelledFamiliesNeedOneValuePerLabel) {
  prometheus::Registry registry;
  std::unique_ptr<ServerMetrics> m = *ServerMetrics::Create(&registry, ServerMetricsOptions());
  EXPECT_EQ(m->errors_total->WithLabels({"Stream"}), nullptr);
  EXPECT_EQ(m->errors_total->WithLabels({"Stream", "OK", "extra"}), nullptr);
  prometheus::Counter* counter = m->errors_total->WithLabels({"Stream", "INTERNAL"});
  ASSERT_NE(counter, nullptr);
  EXPECT_EQ(m->errors_total->WithLabels({"Stream", "INTERNAL"}), counter);  // the same child
  EXPECT_EQ(m->errors_total->label_names(), (std::vector<std::string>{"method", "code"}));
}

// The summary forgets what is older than its window (prometheus-cpp's
// max_age), unlike _sum and _count.
TEST(ServerMetricsTest, ChunkLatencyQuantilesCoverOnlyTheWindow) {
  prometheus::Registry registry;
  ServerMetricsOptions options;
  options.chunk_latency_window = absl::Milliseconds(200);
  options.chunk_latency_age_buckets = 2;
  std::unique_ptr<ServerMetrics> m = *ServerMetrics::Create(&registry, options);
  for (int i = 0; i < 100; ++i) m->chunk_latency_seconds->Observe(5.0);
  std::string text = SerializeText(m->Collectables());
  EXPECT_TRUE(Contains(text, "hecate_chunk_latency_seconds{quantile=\"0.5\"} 5\n")) << text;
  absl::SleepFor(absl::Milliseconds(450));
  m->chunk_latency_seconds->Observe(0.25);
  text = SerializeText(m->Collectables());
  EXPECT_TRUE(Contains(text, "hecate_chunk_latency_seconds{quantile=\"0.5\"} 0.25\n")) << text;
  EXPECT_TRUE(Contains(text, "hecate_chunk_latency_seconds_count 101\n")) << text;
  EXPECT_TRUE(Contains(text, "hecate_chunk_latency_seconds_sum 500.25\n")) << text;
}

}  // namespace
}  // namespace hecate::metrics
