#include "sessions/session_metadata.h"

#include <cmath>
#include <limits>
#include <random>

#include "absl/base/casts.h"
#include "absl/status/status.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

SessionMetadata RandomMetadata() {
  std::mt19937_64 rng{std::random_device{}()};
  SessionMetadata m;
  // Any time from 1970 to ~2262 (int64 nanoseconds), counters up to 2^64-1.
  m.created = absl::FromUnixNanos(static_cast<int64_t>(rng() >> 1));
  m.last_used = absl::FromUnixNanos(static_cast<int64_t>(rng() >> 1));
  m.tokens_in = rng();
  m.tokens_out = rng();
  return m;
}

TEST(SessionMetadataTest, RoundTripsExactly) {
  for (int i = 0; i < 100; ++i) {
    const SessionMetadata m = RandomMetadata();
    absl::StatusOr<SessionMetadata> back = DecodeSessionMetadata(EncodeSessionMetadata(m));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->created, m.created);
    EXPECT_EQ(back->last_used, m.last_used);
    EXPECT_EQ(back->tokens_in, m.tokens_in);
    EXPECT_EQ(back->tokens_out, m.tokens_out);
  }
}

TEST(SessionMetadataTest, IgnoresUnknownKeys) {
  const SessionMetadata m = RandomMetadata();
  absl::StatusOr<SessionMetadata> back =
      DecodeSessionMetadata(EncodeSessionMetadata(m) + "added_in_v2 17\n");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->tokens_out, m.tokens_out);
}

TEST(SessionMetadataTest, RejectsDamageNamingTheKey) {
  const std::string good = EncodeSessionMetadata(RandomMetadata());
  struct Case {
    std::string text;
    const char* expected;
  } cases[] = {
      {"", "first line"},
      {absl::StrReplaceAll(good, {{"v1", "v9"}}), "first line"},
      {absl::StrReplaceAll(good, {{"tokens_in ", "tokens_inn "}}), "'tokens_in' missing"},
      {absl::StrReplaceAll(good, {{"tokens_out ", "tokens_out -"}}), "'tokens_out' has a bad value"},
      {good + "tokens_in 3\n", "'tokens_in' repeated"},
      {good + "lonely\n", "is not 'key value'"},
      {good.substr(0, good.find("tokens_out")), "'tokens_out' missing"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SessionMetadata> got = DecodeSessionMetadata(c.text);
    EXPECT_TRUE(absl::IsDataLoss(got.status())) << c.text;
    EXPECT_NE(got.status().message().find(c.expected), absl::string_view::npos)
        << got.status() << " for " << c.text;
  }
}

TEST(SessionMetadataTest, NextLogitsRoundTripBitForBit) {
  std::mt19937_64 rng{std::random_device{}()};
  SessionMetadata m = RandomMetadata();
  std::normal_distribution<float> normal(0.0f, 5.0f);
  for (int i = 0; i < 256; ++i) m.next_logits.push_back(normal(rng));
  // Values text formatting would round or mangle.
  m.next_logits[0] = -0.0f;
  m.next_logits[1] = std::numeric_limits<float>::denorm_min();
  m.next_logits[2] = 0.1f;
  m.next_logits_pulse_id = rng();
  absl::StatusOr<SessionMetadata> back = DecodeSessionMetadata(EncodeSessionMetadata(m));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->next_logits_pulse_id, m.next_logits_pulse_id);
  ASSERT_EQ(back->next_logits.size(), m.next_logits.size());
  for (size_t i = 0; i < m.next_logits.size(); ++i) {
    EXPECT_EQ(absl::bit_cast<uint32_t>(back->next_logits[i]),
              absl::bit_cast<uint32_t>(m.next_logits[i])) << i;
  }
  EXPECT_EQ(back->tokens_in, m.tokens_in);
}

TEST(SessionMetadataTest, NextLogitsAreOptional) {
  // A file from before they existed, or a session whose distribution is unknown.
  const SessionMetadata m = RandomMetadata();
  const std::string text = EncodeSessionMetadata(m);
  EXPECT_EQ(text.find("next_logits"), std::string::npos);
  absl::StatusOr<SessionMetadata> back = DecodeSessionMetadata(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->next_logits.empty());
}

TEST(SessionMetadataTest, DamagedNextLogitsAreNamed) {
  SessionMetadata m = RandomMetadata();
  m.next_logits = {1.0f, -2.5f, 3.25f};
  m.next_logits_pulse_id = 42;
  const std::string good = EncodeSessionMetadata(m);
  const size_t at = good.find("next_logits ");
  ASSERT_NE(at, std::string::npos);
  const std::string without_logits = good.substr(0, at);
  const std::string without_pulse =
      absl::StrReplaceAll(good, {{"next_logits_pulse_id 42\n", ""}});
  struct Case {
    std::string text;
    const char* expected;
  } cases[] = {
      {without_logits, "'next_logits' missing"},
      {without_pulse, "'next_logits_pulse_id' missing"},
      {without_logits + "next_logits 0000803\n", "'next_logits' has a bad value"},
      {without_logits + "next_logits 0000803G\n", "'next_logits' has a bad value"},
      {without_logits + "next_logits 0000803F\n", "'next_logits' has a bad value"},
      {absl::StrReplaceAll(good, {{"next_logits_pulse_id 42", "next_logits_pulse_id x"}}),
       "'next_logits_pulse_id' has a bad value"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<SessionMetadata> got = DecodeSessionMetadata(c.text);
    EXPECT_TRUE(absl::IsDataLoss(got.status())) << c.text;
    EXPECT_NE(got.status().message().find(c.expected), absl::string_view::npos)
        << got.status() << " for " << c.text;
  }
}

}  // namespace
}  // namespace hecate
