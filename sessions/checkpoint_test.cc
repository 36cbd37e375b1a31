#include "sessions/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint_format.h"
#include "sessions/checkpoint_test_util.h"

namespace hecate {
namespace {

using testing::FillRandomValidState;
using testing::MicroModel;
using testing::PhaseOffset;
using testing::PutU32At;
using testing::PutU64At;
using testing::RecomputeChecksums;

class CheckpointTest : public ::testing::Test {
 protected:
  CheckpointTest() : seed_(TestSeed()), model_(MicroModel(seed_)) {}

  std::string Encode(uint64_t pulse, uint64_t seed) {
    ModelState state(model_->config());
    FillRandomValidState(state, pulse, seed);
    absl::StatusOr<std::string> bytes = EncodeCheckpoint(*model_, state);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? *bytes : std::string();
  }

  void ExpectRejected(const std::string& bytes, absl::StatusCode code, absl::string_view needle) {
    absl::StatusOr<ModelState> state = DecodeCheckpoint(*model_, bytes);
    ASSERT_FALSE(state.ok());
    EXPECT_EQ(state.status().code(), code) << state.status();
    EXPECT_NE(state.status().message().find(needle), absl::string_view::npos) << state.status();
  }

  uint64_t seed_;
  std::shared_ptr<const Model> model_;
};

TEST_F(CheckpointTest, RoundTripIsBitExactAndCanonical) {
  for (uint64_t pulse : {0ull, 1ull, 3ull, 4ull, 5ull, 1001ull, (1ull << 40) + 3, ~0ull}) {
    ModelState state(model_->config());
    FillRandomValidState(state, pulse, seed_ + pulse);
    absl::StatusOr<std::string> bytes = EncodeCheckpoint(*model_, state);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(bytes->size(), CheckpointSize(model_->config()));
    absl::StatusOr<ModelState> back = DecodeCheckpoint(*model_, *bytes, pulse);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(back->BitwiseEquals(state)) << "pulse " << pulse;
    EXPECT_EQ(*EncodeCheckpoint(*model_, *back), *bytes);
  }
}

TEST_F(CheckpointTest, RoundTripOfTheTinyPreset) {
  absl::StatusOr<std::shared_ptr<const Model>> tiny = LoadModel("random:tiny", seed_);
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  ModelState state((*tiny)->config());
  FillRandomValidState(state, 12345, seed_);
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(**tiny, state);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<ModelState> back = DecodeCheckpoint(**tiny, *bytes, 12345);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->BitwiseEquals(state));
  // A tiny checkpoint is not a micro model's.
  EXPECT_TRUE(absl::IsFailedPrecondition(DecodeCheckpoint(*model_, *bytes).status()));
}

TEST_F(CheckpointTest, HeaderFieldsSitWhereTheFormatSays) {
  const std::string bytes = Encode(1001, seed_);
  EXPECT_EQ(bytes.substr(0, 8), std::string(checkpoint_format::kMagic));
  EXPECT_EQ(bytes[8], 1);  // format version, little-endian
  EXPECT_EQ(bytes.substr(16, 64), model_->fingerprint());
  EXPECT_EQ(static_cast<uint8_t>(bytes[testing::kPulseIdOffset]), 1001 & 0xff);
  EXPECT_EQ(static_cast<uint8_t>(bytes[PhaseOffset(2)]), 1001 % 4);
}

TEST_F(CheckpointTest, ExpectedPulseIdMismatchNamesBothIds) {
  const std::string bytes = Encode(1001, seed_);
  EXPECT_TRUE(DecodeCheckpoint(*model_, bytes, 1001).ok());
  absl::StatusOr<ModelState> wrong = DecodeCheckpoint(*model_, bytes, 1000);
  EXPECT_TRUE(absl::IsFailedPrecondition(wrong.status())) << wrong.status();
  EXPECT_EQ(wrong.status().message(),
            "checkpoint is at pulse id 1001, but pulse id 1000 was expected");
}

TEST_F(CheckpointTest, AnotherModelsCheckpointIsFailedPrecondition) {
  const std::string bytes = Encode(1001, seed_);
  std::shared_ptr<const Model> other = MicroModel(seed_ + 1);
  absl::StatusOr<ModelState> state = DecodeCheckpoint(*other, bytes);
  EXPECT_TRUE(absl::IsFailedPrecondition(state.status())) << state.status();
  EXPECT_NE(state.status().message().find(model_->fingerprint()), absl::string_view::npos);
  EXPECT_NE(state.status().message().find(other->fingerprint()), absl::string_view::npos);
}

TEST_F(CheckpointTest, NewerFormatVersionIsRefusedNotMisread) {
  std::string bytes = Encode(1001, seed_);
  PutU32At(bytes, testing::kVersionOffset, 5);
  ASSERT_TRUE(RecomputeChecksums(bytes));
  ExpectRejected(bytes, absl::StatusCode::kInvalidArgument,
                 "checkpoint format version 5 is newer than supported 4");
  // A newer version may have any header length; only the framing is read.
  std::string longer = bytes.substr(0, 16) + std::string(5000, '\x07');
  PutU32At(longer, 12, 5000);
  longer += std::string(4, '\0');
  ASSERT_TRUE(RecomputeChecksums(longer));
  ExpectRejected(longer, absl::StatusCode::kInvalidArgument, "newer than supported");
  // Version 0 was never written.
  PutU32At(bytes, testing::kVersionOffset, 0);
  ASSERT_TRUE(RecomputeChecksums(bytes));
  ExpectRejected(bytes, absl::StatusCode::kDataLoss, "format version 0");
}

TEST_F(CheckpointTest, EditedPulseIdWithValidChecksumsIsRejected) {
  // 1001: phases (0, 1, 1); every G and M non-zero.
  const std::string original = Encode(1001, seed_);
  {  // The pulse id alone: stored phases disagree.
    std::string bytes = original;
    PutU64At(bytes, testing::kPulseIdOffset, 1002);
    ASSERT_TRUE(RecomputeChecksums(bytes));
    ExpectRejected(bytes, absl::StatusCode::kDataLoss,
                   "level 1 phase is 1 but pulse id 1002 % period 2 = 0");
  }
  {  // Pulse id and phases, consistently: the error buffers should be empty.
    std::string bytes = original;
    PutU64At(bytes, testing::kPulseIdOffset, 1004);
    PutU64At(bytes, PhaseOffset(1), 0);
    PutU64At(bytes, PhaseOffset(2), 0);
    ASSERT_TRUE(RecomputeChecksums(bytes));
    ExpectRejected(bytes, absl::StatusCode::kDataLoss, "level1.G element 0");
  }
  {  // Back to before level 2 ever fired and the window filled.
    std::string bytes = original;
    PutU64At(bytes, testing::kPulseIdOffset, 3);
    PutU64At(bytes, PhaseOffset(1), 1);
    PutU64At(bytes, PhaseOffset(2), 3);
    ASSERT_TRUE(RecomputeChecksums(bytes));
    ExpectRejected(bytes, absl::StatusCode::kDataLoss, "must be zero");
  }
  // Sanity: the unedited bytes pass, and so do the bytes after a no-op repair.
  std::string repaired = original;
  ASSERT_TRUE(RecomputeChecksums(repaired));
  EXPECT_EQ(repaired, original);
  EXPECT_TRUE(DecodeCheckpoint(*model_, original).ok());
}

TEST_F(CheckpointTest, NonFiniteValuesAreDataLoss) {
  ModelState state(model_->config());
  FillRandomValidState(state, 1001, seed_);
  state.data()[seed_ % state.data().size()] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(absl::IsDataLoss(EncodeCheckpoint(*model_, state).status()));

  // Smuggled in behind valid CRCs: the last float of the first section.
  std::string bytes = Encode(1001, seed_);
  const size_t first_crc = 16 + checkpoint_format::HeaderLength(3) + 4 + 2 +
                           std::string("layers.0.level0.M").size() + 1 + 3 * 8 + 4 * 2 * 4 * 4;
  for (float bad : {std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    uint32_t bits;
    std::memcpy(&bits, &bad, 4);
    PutU32At(bytes, first_crc - 4, bits);
    ASSERT_TRUE(RecomputeChecksums(bytes));
    ExpectRejected(bytes, absl::StatusCode::kDataLoss, "layers.0.level0.M holds a non-finite");
  }
}

TEST_F(CheckpointTest, RenamedTensorWithValidChecksumsIsRejected) {
  std::string bytes = Encode(1001, seed_);
  const size_t name_at = 16 + checkpoint_format::HeaderLength(3) + 4 + 2;
  ASSERT_EQ(bytes.substr(name_at, 17), "layers.0.level0.M");
  bytes[name_at + 16] = 'S';
  ASSERT_TRUE(RecomputeChecksums(bytes));
  ExpectRejected(bytes, absl::StatusCode::kDataLoss,
                 "holds 'layers.0.level0.S' [2, 4, 4] where the state layout has "
                 "'layers.0.level0.M'");
}

TEST_F(CheckpointTest, TrailingBytesAreDataLoss) {
  std::string bytes = Encode(1001, seed_) + "x";
  ExpectRejected(bytes, absl::StatusCode::kDataLoss, "1 trailing bytes");
}

TEST_F(CheckpointTest, EncodeRefusesAStateOfAnotherConfig) {
  ModelConfig other = model_->config();
  other.window = 8;
  ModelState state(other);
  FillRandomValidState(state, 9, seed_);
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(*model_, state);
  EXPECT_TRUE(absl::IsInvalidArgument(bytes.status())) << bytes.status();
}

// The fuzzer's seeds must be real checkpoints of the fuzzer's model, or the
// fuzzer never gets past the fingerprint check. If the runtime's random
// initialisation changes, regenerate them:
//   bazel run //sessions:make_checkpoint_corpus -- $PWD/sessions/testdata/checkpoint_corpus
TEST(SeedCorpusTest, SeedsAreCurrentCheckpointsOfTheFuzzModel) {
  std::shared_ptr<const Model> model = MicroModel(20240601);
  int accepted = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator("sessions/testdata/checkpoint_corpus")) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string name = entry.path().filename().string();
    const bool is_signed = name.rfind("signed-pulse-", 0) == 0;
    absl::StatusOr<ModelState> state = DecodeCheckpoint(
        *model, bytes, std::nullopt, is_signed ? testing::TestSigning() : CheckpointSigning{});
    if (is_signed || name.rfind("pulse-", 0) == 0) {
      EXPECT_TRUE(state.ok()) << entry.path() << ": " << state.status();
      accepted += state.ok();
    }
  }
  EXPECT_GE(accepted, 8);
}

}  // namespace
}  // namespace hecate
