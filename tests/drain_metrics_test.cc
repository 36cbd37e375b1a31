// Operating the daemon: SIGTERM drains (readiness off, sessions checkpointed,
// exit 0) and a restart on the same state directory finds every session with
// its owner and pulse id; /metrics counts exactly the calls made; health
// endpoints answer.
#include <signal.h>

#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

class OperatorTest : public E2eTest {};

TEST_F(OperatorTest, DrainAndRestartKeepSessions) {
  StartDaemon();
  const std::string a = alice_->CreateSession()->id();
  const std::string b = bob_->CreateSession()->id();
  std::unique_ptr<StreamSession> sa = *alice_->OpenStream();
  std::unique_ptr<StreamSession> sb = *bob_->OpenStream();
  absl::StatusOr<v1::StreamResponse> before = sa->Call(TopKRequest(a, Text(120, 5), 5));
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(sb->Call(TopKRequest(b, Text(77, 6), 5)).ok());
  EXPECT_TRUE(sa->Finish().ok());
  EXPECT_TRUE(sb->Finish().ok());
  const std::string checkpoint_before = alice_->ExportCheckpoint(a)->checkpoint_data();

  absl::StatusOr<int> exit_code = daemon_->Stop(SIGTERM);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);

  StartDaemon();  // same state_dir_
  absl::StatusOr<v1::Session> a2 = alice_->GetSession(a);
  ASSERT_TRUE(a2.ok()) << a2.status();
  EXPECT_EQ(a2->pulse_id(), 120u);
  EXPECT_EQ(bob_->GetSession(b)->pulse_id(), 77u);
  EXPECT_EQ(bob_->GetSession(a).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(alice_->GetSession(b).status().code(), absl::StatusCode::kNotFound);
  // The state came back bit for bit.
  EXPECT_EQ(alice_->ExportCheckpoint(a)->checkpoint_data(), checkpoint_before);
  std::unique_ptr<StreamSession> again = *alice_->OpenStream();
  absl::StatusOr<v1::StreamResponse> next = again->Call(TopKRequest(a, "!", 1));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->pulse_id(), 121u);
  EXPECT_TRUE(again->Finish().ok());
}

TEST_F(OperatorTest, MetricsCountExactlyTheCallsMade) {
  StartDaemon();
  absl::StatusOr<HttpResponse> health = HttpGet(daemon_->http_port(), "/healthz");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(HttpGet(daemon_->http_port(), "/readyz")->status, 200);

  auto scrape = [&] { return HttpGet(daemon_->http_port(), "/metrics")->body; };
  const std::string id = alice_->CreateSession()->id();
  const std::string first = scrape();
  const std::vector<std::pair<std::string, std::string>> get_ok = {{"method", "GetSession"}, {"code", "OK"}};
  const std::vector<std::pair<std::string, std::string>> get_missing = {{"method", "GetSession"}, {"code", "NOT_FOUND"}};
  const double ok0 = SampleValue(first, "hecate_request_duration_seconds_count", get_ok);
  const double nf0 = SampleValue(first, "hecate_request_duration_seconds_count", get_missing);
  const double chunks0 = SampleValue(first, "hecate_chunk_forward_duration_seconds_count", {});
  const double in0 = SampleValue(first, "hecate_tokens_total", {{"direction", "in"}});
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(alice_->GetSession(id).ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(alice_->GetSession("0123456789abcdef0123456789abcdef").ok());
  }
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(stream->Call(TopKRequest(id, Text(25, i), 3)).ok());
  EXPECT_TRUE(stream->Finish().ok());

  const std::string second = scrape();
  EXPECT_EQ(SampleValue(second, "hecate_request_duration_seconds_count", get_ok) - ok0, 7);
  EXPECT_EQ(SampleValue(second, "hecate_request_duration_seconds_count", get_missing) - nf0, 3);
  EXPECT_EQ(SampleValue(second, "hecate_errors_total", get_missing), 3);
  EXPECT_EQ(SampleValue(second, "hecate_chunk_forward_duration_seconds_count", {}) - chunks0, 4);
  EXPECT_EQ(SampleValue(second, "hecate_tokens_total", {{"direction", "in"}}) - in0, 100);
  EXPECT_EQ(SampleValue(second, "hecate_request_duration_seconds_count",
                        {{"method", "Stream"}, {"code", "OK"}}), 1);
  EXPECT_EQ(SampleValue(second, "hecate_sessions", {{"tier", "device"}}), 1);
  // The sliding-window summary has its quantiles.
  EXPECT_GT(SampleValue(second, "hecate_chunk_latency_seconds", {{"quantile", "0.99"}}), 0.0);
  EXPECT_EQ(SampleValue(second, "hecate_chunk_latency_seconds_count", {}), 4);
  EXPECT_NE(second.find("# TYPE hecate_request_duration_seconds histogram"), std::string::npos);
}

}  // namespace
}  // namespace hecate::testing
