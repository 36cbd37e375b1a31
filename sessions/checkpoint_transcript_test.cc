// Checkpoints with a transcript (format versions 3 and 4): round trips,
// every byte of the transcript section guarded, old versions still read.
#include <cstdint>
#include <random>
#include <string>

#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "sessions/byte_io.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_format.h"
#include "sessions/checkpoint_test_util.h"
#include "sessions/crc32c.h"
#include "sessions/transcript.h"

namespace hecate {
namespace {

namespace fmt = checkpoint_format;
using testing::FillRandomValidState;
using testing::MicroModel;
using testing::TestSigning;

class CheckpointTranscriptTest : public ::testing::Test {
 protected:
  CheckpointTranscriptTest() : seed_(TestSeed()), rng_(seed_), model_(MicroModel(seed_)) {}

  // A transcript of `n` random bytes whose journal keeps `keep` of them.
  Transcript RandomTranscript(size_t n, size_t keep) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng_() & 0xff);
    Transcript t;
    t.Append(bytes, keep);
    return t;
  }

  ModelState StateAt(uint64_t pulse) {
    ModelState state(model_->config());
    FillRandomValidState(state, pulse, seed_ + pulse);
    return state;
  }

  uint64_t seed_;
  std::mt19937_64 rng_;
  std::shared_ptr<const Model> model_;
};

uint32_t VersionOf(const std::string& bytes) {
  ByteReader r(absl::string_view(bytes).substr(testing::kVersionOffset));
  uint32_t v = 0;
  r.ReadU32(&v);
  return v;
}

TEST_F(CheckpointTranscriptTest, RoundTripsSignedAndUnsigned) {
  const size_t n = 1 + rng_() % 3000;
  const Transcript t = RandomTranscript(n, 1 + rng_() % 2000);
  const ModelState state = StateAt(n);
  for (const bool sign : {false, true}) {
    const CheckpointSigning signing = sign ? TestSigning() : CheckpointSigning{};
    absl::StatusOr<std::string> bytes = EncodeCheckpoint(*model_, state, t, signing);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(VersionOf(*bytes), sign ? fmt::kSignedTranscriptVersion
                                      : fmt::kUnsignedTranscriptVersion);
    EXPECT_LE(bytes->size(), MaxCheckpointSize(model_->config(), t.journal_size()));
    absl::StatusOr<DecodedCheckpoint> back =
        DecodeCheckpointWithTranscript(*model_, *bytes, n, signing);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(back->state.BitwiseEquals(state));
    ASSERT_TRUE(back->transcript.has_value());
    EXPECT_EQ(back->transcript->digest(), t.digest());
    EXPECT_EQ(back->transcript->journal(), t.journal());
    EXPECT_EQ(back->transcript->journal_start(), t.journal_start());
    EXPECT_EQ(*EncodeCheckpoint(*model_, back->state, *back->transcript, signing), *bytes);
    // The plain decoder reads it too.
    EXPECT_TRUE(DecodeCheckpoint(*model_, *bytes, n, signing).ok());
  }
}

TEST_F(CheckpointTranscriptTest, OldVersionsDecodeWithoutATranscript) {
  const ModelState state = StateAt(77);
  absl::StatusOr<std::string> v1 = EncodeCheckpoint(*model_, state);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(VersionOf(*v1), fmt::kUnsignedVersion);
  absl::StatusOr<DecodedCheckpoint> back = DecodeCheckpointWithTranscript(*model_, *v1);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->transcript.has_value());
}

TEST_F(CheckpointTranscriptTest, TranscriptMustBeAtTheStatesPulse) {
  const Transcript t = RandomTranscript(10, 100);
  EXPECT_EQ(EncodeCheckpoint(*model_, StateAt(11), t).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Every byte of the transcript section (and the footer after it) is guarded:
// changing it is DATA_LOSS, never a different transcript.
TEST_F(CheckpointTranscriptTest, EveryTranscriptByteIsGuarded) {
  // One whole block and a tail that holds the whole journal, so every
  // journal byte is also bound to the digest (older journal bytes are
  // guarded by the CRC against accidents and by the seal against forgery).
  const size_t n = kTranscriptBlockBytes + 60 + rng_() % 40;
  const Transcript t = RandomTranscript(n, 50);
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(*model_, StateAt(n), t);
  ASSERT_TRUE(bytes.ok());
  const size_t section = fmt::kTranscriptFixedSize + t.chain().tail.size() + t.journal_size();
  const size_t begin = bytes->size() - fmt::kFooterSize - section;
  for (size_t i = begin; i < bytes->size(); ++i) {
    std::string bad = *bytes;
    bad[i] ^= static_cast<char>(1 + rng_() % 255);
    absl::StatusOr<DecodedCheckpoint> back = DecodeCheckpointWithTranscript(*model_, bad);
    ASSERT_FALSE(back.ok()) << "byte " << i;
    EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss) << back.status();
  }
  // With its CRCs recomputed, an edited digest or journal is still caught.
  for (size_t i = begin; i < bytes->size() - fmt::kFooterSize - fmt::kCrcSize; ++i) {
    std::string bad = *bytes;
    bad[i] ^= static_cast<char>(1 + rng_() % 255);
    const uint32_t crc = crc32c::Mask(crc32c::Value(
        bad.data() + begin, section - fmt::kCrcSize));
    std::string le;
    ByteWriter(&le).PutU32(crc);
    bad.replace(begin + section - fmt::kCrcSize, 4, le);
    absl::StatusOr<DecodedCheckpoint> back = DecodeCheckpointWithTranscript(*model_, bad);
    ASSERT_FALSE(back.ok()) << "byte " << i - begin << " of the section";
    EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss) << back.status();
  }
  // Signed, the seal covers the digest: an edit is refused before parsing.
  absl::StatusOr<std::string> sealed = EncodeCheckpoint(*model_, StateAt(n), t, TestSigning());
  ASSERT_TRUE(sealed.ok());
  std::string bad = *sealed;
  bad[sealed->size() - fmt::kSealSize - fmt::kFooterSize - fmt::kCrcSize - 1] ^= 1;
  EXPECT_EQ(DecodeCheckpointWithTranscript(*model_, bad, std::nullopt, TestSigning())
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

// Without a key, a transcript binds the pulse id where the state alone
// cannot (after the window filled, checkpoint_signature_test's
// WithoutAKeyEditsAfterTheWindowFilledAreUndetectable): the journal must end
// at the pulse id and the tail's length follows from it, so an edit of the
// pulse id and phases with recomputed CRCs is refused. (A forger who also
// rebuilds the transcript is caught only by a signature.)
TEST_F(CheckpointTranscriptTest, WithoutAKeyTheTranscriptBindsThePulseId) {
  const uint64_t n = 300;
  const Transcript t = RandomTranscript(n, n);  // held from pulse 0
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(*model_, StateAt(n), t);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(DecodeCheckpointWithTranscript(*model_, *bytes, n).ok());
  for (uint64_t to : {n + 1, n - 1, n + kTranscriptBlockBytes}) {
    std::string forged = *bytes;
    testing::PutU64At(forged, testing::kPulseIdOffset, to);
    for (size_t j = 0; j < model_->config().periods.size(); ++j) {
      testing::PutU64At(forged, testing::PhaseOffset(static_cast<int>(j)),
                        to % model_->config().periods[j]);
    }
    ASSERT_TRUE(testing::RecomputeChecksums(forged));
    absl::StatusOr<DecodedCheckpoint> back = DecodeCheckpointWithTranscript(*model_, forged);
    ASSERT_FALSE(back.ok()) << "pulse id " << n << " -> " << to << " accepted";
    EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss) << back.status();
  }
}

}  // namespace
}  // namespace hecate
