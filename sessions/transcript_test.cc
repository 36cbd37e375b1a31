#include "sessions/transcript.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/sha256.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

// Feeds `bytes` in random chunks of 1..max_chunk bytes.
Transcript FeedInChunks(const std::string& bytes, std::mt19937_64& rng, size_t max_chunk,
                        size_t max_journal = kDefaultMaxJournalBytes) {
  Transcript t;
  for (size_t at = 0; at < bytes.size();) {
    const size_t n = std::min<size_t>(1 + rng() % max_chunk, bytes.size() - at);
    t.Append(absl::string_view(bytes).substr(at, n), max_journal);
    at += n;
  }
  return t;
}

// The digest by its definition (transcript.h), from the bytes alone.
Sha256Digest ReferenceDigest(uint64_t origin, const std::string& bytes) {
  Sha256Digest chain = TranscriptChainStart(origin);
  size_t at = 0;
  for (; at + kTranscriptBlockBytes <= bytes.size(); at += kTranscriptBlockBytes) {
    Sha256 h;
    h.Update(DigestBytes(chain));
    h.Update(absl::string_view(bytes).substr(at, kTranscriptBlockBytes));
    chain = h.Finish();
  }
  TranscriptChain c{origin, origin + bytes.size(), chain, bytes.substr(at)};
  return TranscriptDigest(c);
}

TEST(TranscriptTest, SameBytesSameDigestWhateverTheChunking) {
  std::mt19937_64 rng(TestSeed());
  const std::string bytes = RandomBytes(rng, 3000 + rng() % 3000);
  const Transcript a = FeedInChunks(bytes, rng, 7);
  const Transcript b = FeedInChunks(bytes, rng, 2000);
  Transcript whole;
  whole.Append(bytes, kDefaultMaxJournalBytes);
  EXPECT_EQ(a.digest(), b.digest());
  EXPECT_EQ(a.digest(), whole.digest());
  EXPECT_EQ(a.digest(), ReferenceDigest(0, bytes));
  EXPECT_EQ(a.pulse_id(), bytes.size());
  EXPECT_EQ(a.journal(), bytes);
  EXPECT_EQ(a.digest_hex().size(), 64u);
}

TEST(TranscriptTest, OneDifferentByteChangesTheDigest) {
  std::mt19937_64 rng(TestSeed());
  const std::string bytes = RandomBytes(rng, 1 + rng() % 5000);
  std::string other = bytes;
  other[rng() % other.size()] ^= static_cast<char>(1 + rng() % 255);
  EXPECT_NE(FeedInChunks(bytes, rng, 100).digest(), FeedInChunks(other, rng, 100).digest());
  // A prefix differs from the whole, and an empty transcript from both.
  EXPECT_NE(FeedInChunks(bytes.substr(0, bytes.size() - 1), rng, 100).digest(),
            FeedInChunks(bytes, rng, 100).digest());
  EXPECT_NE(Transcript().digest(), FeedInChunks(bytes, rng, 100).digest());
  // The origin is part of the digest: unknown bytes are not no bytes.
  EXPECT_NE(Transcript(0).digest(), Transcript(5).digest());
}

TEST(TranscriptTest, JournalKeepsTheNewestBytesWithinItsLimit) {
  std::mt19937_64 rng(TestSeed());
  const std::string bytes = RandomBytes(rng, 5000);
  const size_t limit = 100 + rng() % 900;
  const Transcript t = FeedInChunks(bytes, rng, 300, limit);
  EXPECT_EQ(t.journal_size(), limit);
  EXPECT_EQ(t.journal_start(), bytes.size() - limit);
  EXPECT_EQ(t.journal(), bytes.substr(bytes.size() - limit));
  EXPECT_EQ(t.digest(), ReferenceDigest(0, bytes));  // the digest covers every byte

  absl::StatusOr<absl::string_view> read = t.Read(t.journal_start() + 10, 20);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes.substr(t.journal_start() + 10, 20));
  EXPECT_EQ(*t.Read(t.pulse_id() - 3, 100), bytes.substr(bytes.size() - 3));
  EXPECT_TRUE(t.Read(t.pulse_id(), 100)->empty());
  EXPECT_EQ(t.Read(t.journal_start() - 1, 1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(t.Read(t.pulse_id() + 1, 1).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(TranscriptTest, RewoundEqualsATranscriptOfThePrefix) {
  std::mt19937_64 rng(TestSeed());
  const std::string bytes = RandomBytes(rng, 4000);
  const size_t mark = rng() % 2000;
  Transcript t;
  t.Append(absl::string_view(bytes).substr(0, mark), kDefaultMaxJournalBytes);
  const TranscriptChain at_mark = t.chain();
  t.Append(absl::string_view(bytes).substr(mark), kDefaultMaxJournalBytes);
  const size_t to = mark + rng() % (bytes.size() - mark + 1);
  absl::StatusOr<Transcript> rewound = t.Rewound(at_mark, to);
  ASSERT_TRUE(rewound.ok()) << rewound.status();
  EXPECT_EQ(rewound->digest(), ReferenceDigest(0, bytes.substr(0, to)));
  EXPECT_EQ(rewound->journal(), bytes.substr(0, to));
  EXPECT_EQ(t.Rewound(at_mark, bytes.size() + 1).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(TranscriptTest, FromPartsRoundTripsAndRefusesInconsistentParts) {
  std::mt19937_64 rng(TestSeed());
  const std::string bytes = RandomBytes(rng, 2500);
  const Transcript t = FeedInChunks(bytes, rng, 500, 1800);
  absl::StatusOr<Transcript> back =
      Transcript::FromParts(t.chain(), t.journal_start(), t.journal());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->digest(), t.digest());
  EXPECT_EQ(back->journal(), t.journal());

  TranscriptChain short_tail = t.chain();
  short_tail.tail.pop_back();
  EXPECT_EQ(Transcript::FromParts(short_tail, t.journal_start(), t.journal()).status().code(),
            absl::StatusCode::kDataLoss);
  std::string changed(t.journal());
  changed.back() ^= 1;  // disagrees with the tail
  EXPECT_EQ(Transcript::FromParts(t.chain(), t.journal_start(), changed).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      Transcript::FromParts(t.chain(), t.journal_start() + 1, t.journal()).status().code(),
      absl::StatusCode::kDataLoss);
}

TEST(TranscriptTest, FromPartsBindsAJournalHeldFromTheOriginToTheChain) {
  std::mt19937_64 rng(TestSeed());
  const std::string bytes = RandomBytes(rng, 3000);  // two full blocks and a tail
  const Transcript t = FeedInChunks(bytes, rng, 700);
  ASSERT_EQ(t.journal_start(), t.origin());
  // A byte of a full block, outside the tail: only the chain value can tell.
  std::string edited(t.journal());
  edited[100] ^= 1;
  absl::StatusOr<Transcript> forged = Transcript::FromParts(t.chain(), t.journal_start(), edited);
  EXPECT_EQ(forged.status().code(), absl::StatusCode::kDataLoss) << forged.status();

  TranscriptChain other_chain = t.chain();
  other_chain.chain[0] ^= 1;
  EXPECT_EQ(Transcript::FromParts(other_chain, t.journal_start(), t.journal()).status().code(),
            absl::StatusCode::kDataLoss);

  // A journal that dropped its oldest bytes cannot be checked against the
  // chain, and is accepted as consistent.
  const Transcript trimmed = FeedInChunks(bytes, rng, 700, /*max_journal=*/1500);
  ASSERT_GT(trimmed.journal_start(), trimmed.origin());
  EXPECT_TRUE(
      Transcript::FromParts(trimmed.chain(), trimmed.journal_start(), trimmed.journal()).ok());
}

}  // namespace
}  // namespace hecate
