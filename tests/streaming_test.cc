// Streaming end to end: chunking never changes what the model says, limits
// are enforced with named errors, cancellation leaves a consistent session,
// and a second concurrent writer is refused.
#include <random>
#include <thread>

#include "base/test_seed.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

class StreamingTest : public E2eTest {};

TEST_F(StreamingTest, ChunkedStreamingEqualsOneShot) {
  StartDaemon();
  const std::string text = Text(700, std::random_device{}());
  const std::string one = alice_->CreateSession()->id();
  const std::string many = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  absl::StatusOr<v1::StreamResponse> whole = stream->Call(TopKRequest(one, text, 256));
  ASSERT_TRUE(whole.ok()) << whole.status();
  // Random splits; all but the last ask for nothing back.
  std::mt19937_64 rng(TestSeed());
  size_t at = 0;
  absl::StatusOr<v1::StreamResponse> last;
  while (at < text.size()) {
    const size_t len = std::min<size_t>(text.size() - at, 1 + rng() % 150);
    v1::StreamRequest request = TopKRequest(many, text.substr(at, len), 256);
    if (at + len < text.size()) request.mutable_output()->mutable_none();
    last = stream->Call(request);
    ASSERT_TRUE(last.ok()) << last.status();
    at += len;
    EXPECT_EQ(last->pulse_id(), at);
  }
  ASSERT_EQ(whole->done().top_k_size(), 256);
  ASSERT_EQ(last->done().top_k_size(), 256);
  // Same distribution within float rounding (docs/MODEL.md section 6).
  std::map<uint32_t, float> expected;
  for (const auto& t : whole->done().top_k()) expected[t.token()] = t.logprob();
  for (const auto& t : last->done().top_k()) EXPECT_NEAR(t.logprob(), expected[t.token()], 1e-3);
  EXPECT_EQ(whole->done().top_k(0).token(), last->done().top_k(0).token());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(StreamingTest, LimitsAreNamedAndChangeNothing) {
  StartDaemon({"--max_chunk_bytes=1000", "--max_generate_tokens=50", "--max_sessions_per_user=3",
               "--max_inflight_per_stream=2"});
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  absl::StatusOr<v1::StreamResponse> big = stream->Call(TopKRequest(id, std::string(1001, 'a'), 1));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("max_chunk_bytes"), std::string::npos) << big.status();
  v1::StreamRequest generate;
  generate.set_session_id(id);
  generate.set_input("abc");
  generate.mutable_output()->mutable_sample()->set_max_tokens(51);
  absl::StatusOr<v1::StreamResponse> many = stream->Call(generate);
  EXPECT_EQ(many.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(many.status().message().find("max_generate_tokens"), std::string::npos);
  generate.mutable_output()->mutable_sample()->set_max_tokens(5);
  generate.mutable_output()->mutable_sample()->set_top_p(1.5f);
  EXPECT_EQ(stream->Call(generate).status().code(), absl::StatusCode::kInvalidArgument);
  v1::StreamRequest bad_k = TopKRequest(id, "abc", 0);
  EXPECT_EQ(stream->Call(bad_k).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(alice_->GetSession(id)->pulse_id(), 0u);  // nothing was applied
  EXPECT_TRUE(stream->Finish().ok());

  ASSERT_TRUE(alice_->CreateSession().ok());
  ASSERT_TRUE(alice_->CreateSession().ok());
  absl::Status fourth = alice_->CreateSession().status();
  EXPECT_EQ(fourth.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(fourth.message().find("(3)"), std::string::npos) << fourth;
  EXPECT_TRUE(bob_->CreateSession().ok());  // the limit is per user

  // More requests in flight than allowed ends the stream.
  std::unique_ptr<StreamSession> flood = *alice_->OpenStream();
  for (int i = 0; i < 6; ++i) {
    v1::StreamRequest r = TopKRequest(id, Text(900, i), 1);
    r.set_request_id(flood->NextRequestId());
    if (!flood->Send(r).ok()) break;
  }
  (void)flood->WritesDone();
  absl::Status ended = flood->Finish();
  EXPECT_EQ(ended.code(), absl::StatusCode::kResourceExhausted) << ended;
  EXPECT_NE(ended.message().find("max_inflight_per_stream"), std::string::npos);
}

TEST_F(StreamingTest, CancellingAGenerationLeavesAConsistentSession) {
  StartDaemon();
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> stream = *alice_->OpenStream();
  v1::StreamRequest generate;
  generate.set_request_id(stream->NextRequestId());
  generate.set_session_id(id);
  generate.set_input("KING RICHARD III:\n");
  generate.mutable_output()->mutable_sample()->set_max_tokens(4000);
  generate.mutable_output()->mutable_sample()->set_temperature(1.0f);
  ASSERT_TRUE(stream->Send(generate).ok());
  int received = 0;
  uint64_t last_pulse = 0;
  while (received < 5) {
    absl::StatusOr<v1::StreamResponse> r = stream->ReadFor(generate.request_id());
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->has_token());
    ++received;
    last_pulse = r->pulse_id();
  }
  stream->Cancel();
  EXPECT_EQ(stream->Finish().code(), absl::StatusCode::kCancelled);
  // The session stops promptly at a token boundary: input plus whole tokens.
  uint64_t pulse = 0;
  for (int i = 0; i < 100; ++i) {
    pulse = alice_->GetSession(id)->pulse_id();
    absl::SleepFor(absl::Milliseconds(20));
    if (pulse == alice_->GetSession(id)->pulse_id()) break;
  }
  EXPECT_GE(pulse, last_pulse);
  EXPECT_LT(pulse, 18u + 4000u);
  // And it is usable right away.
  std::unique_ptr<StreamSession> again = *alice_->OpenStream();
  absl::StatusOr<v1::StreamResponse> next = again->Call(TopKRequest(id, "x", 2));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->pulse_id(), pulse + 1);
  EXPECT_TRUE(again->Finish().ok());
}

TEST_F(StreamingTest, ASecondConcurrentWriterIsAborted) {
  StartDaemon();
  const std::string id = alice_->CreateSession()->id();
  std::unique_ptr<StreamSession> first = *alice_->OpenStream();
  v1::StreamRequest long_request;
  long_request.set_request_id("long");
  long_request.set_session_id(id);
  long_request.set_input("x");
  long_request.mutable_output()->mutable_sample()->set_max_tokens(3000);
  ASSERT_TRUE(first->Send(long_request).ok());
  ASSERT_TRUE(first->ReadFor("long").ok());  // it is running now
  std::unique_ptr<StreamSession> second = *alice_->OpenStream();
  absl::StatusOr<v1::StreamResponse> refused = second->Call(TopKRequest(id, "y", 1));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAborted) << refused.status();
  EXPECT_TRUE(second->Finish().ok());
  first->Cancel();
  (void)first->Finish();
}

}  // namespace
}  // namespace hecate::testing
