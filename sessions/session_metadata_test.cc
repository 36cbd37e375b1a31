#include "sessions/session_metadata.h"

#include <random>

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

}  // namespace
}  // namespace hecate
