#include "sessions/session_metadata.h"

#include <cmath>
#include <limits>
#include <random>

#include "absl/base/casts.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "sessions/byte_io.h"
#include "sessions/crc32c.h"

namespace hecate {
namespace {

SessionMetadata RandomMetadata() {
  std::mt19937_64 rng{TestSeed()};
  SessionMetadata m;
  // Any time from 1970 to ~2262 (int64 nanoseconds), counters up to 2^64-1.
  m.created = absl::FromUnixNanos(static_cast<int64_t>(rng() >> 1));
  m.last_used = absl::FromUnixNanos(static_cast<int64_t>(rng() >> 1));
  m.tokens_in = rng();
  m.tokens_out = rng();
  return m;
}

// The text format sessions were written in before version 2, exactly as the
// last release's writer wrote it (it had no next_logits): such files must
// stay readable.
std::string EncodeVersion1(const SessionMetadata& m) {
  return absl::StrCat("hecate-session-metadata v1\n",                                  //
                      "created_unix_ns ", absl::ToUnixNanos(m.created), "\n",
                      "last_used_unix_ns ", absl::ToUnixNanos(m.last_used), "\n",
                      "tokens_in ", m.tokens_in, "\n",                                  //
                      "tokens_out ", m.tokens_out, "\n");
}

void ExpectSame(const SessionMetadata& got, const SessionMetadata& want) {
  EXPECT_EQ(got.created, want.created);
  EXPECT_EQ(got.last_used, want.last_used);
  EXPECT_EQ(got.tokens_in, want.tokens_in);
  EXPECT_EQ(got.tokens_out, want.tokens_out);
  EXPECT_EQ(got.next_logits_pulse_id, want.next_logits_pulse_id);
  ASSERT_EQ(got.next_logits.size(), want.next_logits.size());
  for (size_t i = 0; i < want.next_logits.size(); ++i) {
    EXPECT_EQ(absl::bit_cast<uint32_t>(got.next_logits[i]),
              absl::bit_cast<uint32_t>(want.next_logits[i])) << i;
  }
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

TEST(SessionMetadataTest, FlagsRoundTripAndDefaultToFalse) {
  for (bool keep : {false, true}) {
    for (bool pinned : {false, true}) {
      SessionMetadata m = RandomMetadata();
      m.keep_on_expiry = keep;
      m.pinned = pinned;
      absl::StatusOr<SessionMetadata> back = DecodeSessionMetadata(EncodeSessionMetadata(m));
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_EQ(back->keep_on_expiry, keep);
      EXPECT_EQ(back->pinned, pinned);
      // Files written before the flags existed hold none: false, as they were.
      absl::StatusOr<SessionMetadata> old = DecodeSessionMetadata(EncodeVersion1(m));
      ASSERT_TRUE(old.ok()) << old.status();
      EXPECT_FALSE(old->keep_on_expiry);
      EXPECT_FALSE(old->pinned);
    }
  }
}

TEST(SessionMetadataTest, Version1IgnoresUnknownKeys) {
  const SessionMetadata m = RandomMetadata();
  absl::StatusOr<SessionMetadata> back =
      DecodeSessionMetadata(EncodeVersion1(m) + "added_later 17\n");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->tokens_out, m.tokens_out);
}

TEST(SessionMetadataTest, Version1RejectsDamageNamingTheKey) {
  const std::string good = EncodeVersion1(RandomMetadata());
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
  std::mt19937_64 rng{TestSeed()};
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
  for (const std::string& bytes : {EncodeSessionMetadata(m), EncodeVersion1(m)}) {
    absl::StatusOr<SessionMetadata> back = DecodeSessionMetadata(bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(back->next_logits.empty());
  }
}

TEST(SessionMetadataTest, Version1FilesStayReadable) {
  for (int i = 0; i < 20; ++i) {
    const SessionMetadata m = RandomMetadata();
    absl::StatusOr<SessionMetadata> back = DecodeSessionMetadata(EncodeVersion1(m));
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSame(*back, m);
  }
}

TEST(SessionMetadataTest, Version2DamageIsDataLoss) {
  SessionMetadata m = RandomMetadata();
  m.next_logits = {1.0f, -2.5f, 3.25f, 0.1f};
  m.next_logits_pulse_id = 42;
  const std::string good = EncodeSessionMetadata(m);
  ASSERT_EQ(good.rfind("hecate-session-metadata v2\n", 0), 0u);
  // Every byte flipped, and every truncation: refused, never misread.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    EXPECT_TRUE(absl::IsDataLoss(DecodeSessionMetadata(bad).status())) << "byte " << i;
    EXPECT_TRUE(absl::IsDataLoss(DecodeSessionMetadata(good.substr(0, i)).status()))
        << "first " << i << " bytes";
  }
}

TEST(SessionMetadataTest, Version2SkipsFieldsAddedLater) {
  const SessionMetadata m = RandomMetadata();
  const std::string good = EncodeSessionMetadata(m);
  const size_t header = std::string("hecate-session-metadata v2\n").size();
  // Field 99, varint 17: what a later writer might add.
  const std::string payload = good.substr(header + 4) + std::string("\x98\x06\x11", 3);
  std::string bytes = good.substr(0, header);
  ByteWriter(&bytes).PutU32(crc32c::Mask(crc32c::Value(payload)));
  bytes += payload;
  absl::StatusOr<SessionMetadata> back = DecodeSessionMetadata(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSame(*back, m);
}

}  // namespace
}  // namespace hecate
