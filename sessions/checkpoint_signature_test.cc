// Signed checkpoints (issue 13, item 3): a checkpoint edited after it was
// signed, signed with another key, unsigned where signatures are required,
// or with its seal cut short is refused before anything else is read; and
// what the state itself proves about the pulse id without a key.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/test_seed.h"
#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_format.h"
#include "sessions/checkpoint_key.h"
#include "sessions/checkpoint_test_util.h"

namespace hecate {
namespace {

namespace fmt = checkpoint_format;
using testing::FillRandomValidState;
using testing::PhaseOffset;
using testing::PutU64At;
using testing::RecomputeChecksums;
using testing::TestSigning;

constexpr absl::string_view kOtherMaterial = "another replica set's checkpoint key, 32+";

class CheckpointSignatureTest : public ::testing::Test {
 protected:
  CheckpointSignatureTest()
      : seed_(TestSeed()), model_(testing::MicroModel(seed_)), signing_(TestSigning()) {}

  std::string Encode(const Model& model, uint64_t pulse, const CheckpointSigning& signing) {
    ModelState state(model.config());
    FillRandomValidState(state, pulse, seed_ + pulse);
    absl::StatusOr<std::string> bytes = EncodeCheckpoint(model, state, signing);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return bytes.ok() ? *bytes : std::string();
  }

  static void ExpectRejected(const Model& model, const std::string& bytes,
                             const CheckpointSigning& signing, absl::StatusCode code,
                             absl::string_view needle) {
    absl::StatusOr<ModelState> state = DecodeCheckpoint(model, bytes, std::nullopt, signing);
    ASSERT_FALSE(state.ok()) << "accepted: " << needle;
    EXPECT_EQ(state.status().code(), code) << state.status();
    EXPECT_NE(state.status().message().find(needle), absl::string_view::npos) << state.status();
  }

  uint64_t seed_;
  std::shared_ptr<const Model> model_;
  CheckpointSigning signing_;
};

TEST_F(CheckpointSignatureTest, SignedRoundTripIsBitExactAndCanonical) {
  for (uint64_t pulse : {0ull, 3ull, 1001ull, ~0ull}) {
    ModelState state(model_->config());
    FillRandomValidState(state, pulse, seed_ + pulse);
    absl::StatusOr<std::string> bytes = EncodeCheckpoint(*model_, state, signing_);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(bytes->size(), CheckpointSize(model_->config()) + fmt::kSealSize);
    EXPECT_EQ(bytes->size(), MaxCheckpointSize(model_->config()));
    EXPECT_EQ((*bytes)[testing::kVersionOffset], 2);
    EXPECT_EQ(bytes->substr(bytes->size() - fmt::kSealSize, 8), std::string(fmt::kSealMagic));
    EXPECT_EQ(bytes->substr(bytes->size() - 40, 8), signing_.key->id());
    absl::StatusOr<ModelState> back = DecodeCheckpoint(*model_, *bytes, pulse, signing_);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(back->BitwiseEquals(state));
    EXPECT_EQ(*EncodeCheckpoint(*model_, *back, signing_), *bytes);
    // The header and the sections are the unsigned checkpoint's (the
    // version, the CRCs that cover it and the seal differ).
    const std::string plain = *EncodeCheckpoint(*model_, state);
    const size_t header_end = fmt::kPreambleSize + fmt::HeaderLength(3);
    const size_t sections = header_end + fmt::kCrcSize;
    const size_t footer = plain.size() - fmt::kFooterSize;
    EXPECT_TRUE(plain.substr(12, header_end - 12) == bytes->substr(12, header_end - 12));
    EXPECT_TRUE(plain.substr(sections, footer - sections) ==
                bytes->substr(sections, footer - sections));
  }
}

TEST_F(CheckpointSignatureTest, WithoutAKeyASignedCheckpointReadsOnItsCrcs) {
  const std::string bytes = Encode(*model_, 1001, signing_);
  EXPECT_TRUE(DecodeCheckpoint(*model_, bytes).ok());
  // A CRC-consistent edit gets through (nothing to check the seal with)
  // wherever the state cannot tell: this is what "no key" means.
  std::string edited = bytes;
  edited[edited.size() - fmt::kSealSize - fmt::kFooterSize - 5] ^= 0x01;  // last float's bits
  ASSERT_TRUE(RecomputeChecksums(edited));
  EXPECT_TRUE(DecodeCheckpoint(*model_, edited).ok());
  ExpectRejected(*model_, edited, signing_, absl::StatusCode::kDataLoss,
                 "signature does not match its bytes");
}

TEST_F(CheckpointSignatureTest, UnsignedIsRefusedWhenAKeyRequiresSignatures) {
  const std::string bytes = Encode(*model_, 1001, {});
  ExpectRejected(*model_, bytes, signing_, absl::StatusCode::kFailedPrecondition,
                 absl::StrCat("checkpoint is not signed (format version 1), and this server "
                              "accepts only checkpoints signed with its key ",
                              signing_.key->id_hex()));
  EXPECT_TRUE(DecodeCheckpoint(*model_, bytes, std::nullopt,
                               TestSigning(testing::kFuzzKeyMaterial, /*allow_unsigned=*/true))
                  .ok());
  EXPECT_TRUE(DecodeCheckpoint(*model_, bytes).ok());
}

TEST_F(CheckpointSignatureTest, AnotherKeysCheckpointIsRefusedNamingBothKeys) {
  const CheckpointSigning other = TestSigning(kOtherMaterial);
  ASSERT_NE(other.key->id(), signing_.key->id());
  const std::string bytes = Encode(*model_, 1001, other);
  const std::string message = absl::StrCat("checkpoint is signed with key ", other.key->id_hex(),
                                           ", not with this server's key ",
                                           signing_.key->id_hex());
  ExpectRejected(*model_, bytes, signing_, absl::StatusCode::kFailedPrecondition, message);
  // Allowing unsigned checkpoints does not make a foreign signature valid.
  ExpectRejected(*model_, bytes, TestSigning(testing::kFuzzKeyMaterial, true),
                 absl::StatusCode::kFailedPrecondition, message);
  // A forger who copies our key id into the seal still lacks the key.
  std::string relabelled = bytes;
  relabelled.replace(relabelled.size() - 40, 8, signing_.key->id());
  ExpectRejected(*model_, relabelled, signing_, absl::StatusCode::kDataLoss,
                 "signature does not match its bytes");
}

TEST_F(CheckpointSignatureTest, EveryTruncationOfTheSealIsDataLoss) {
  const std::string bytes = Encode(*model_, 1001, signing_);
  for (size_t cut = 1; cut <= fmt::kSealSize + fmt::kFooterSize; ++cut) {
    const std::string truncated = bytes.substr(0, bytes.size() - cut);
    for (const CheckpointSigning& s : {signing_, CheckpointSigning{}}) {
      absl::StatusOr<ModelState> state = DecodeCheckpoint(*model_, truncated, std::nullopt, s);
      ASSERT_TRUE(absl::IsDataLoss(state.status())) << "cut " << cut << ": " << state.status();
    }
  }
  ExpectRejected(*model_, bytes.substr(0, bytes.size() - 1), signing_,
                 absl::StatusCode::kDataLoss, "48-byte seal is missing or truncated");
  // The seal removed and the version set back to 1 is an unsigned checkpoint.
  std::string stripped = bytes.substr(0, bytes.size() - fmt::kSealSize);
  testing::PutU32At(stripped, testing::kVersionOffset, 1);
  ASSERT_TRUE(RecomputeChecksums(stripped));
  ExpectRejected(*model_, stripped, signing_, absl::StatusCode::kFailedPrecondition,
                 "is not signed");
}

TEST_F(CheckpointSignatureTest, ASealOverOtherBytesIsDataLoss) {
  const std::string a = Encode(*model_, 1001, signing_);
  const std::string b = Encode(*model_, 1002, signing_);
  // b's valid seal on a's bytes.
  const std::string swapped =
      a.substr(0, a.size() - fmt::kSealSize) + b.substr(b.size() - fmt::kSealSize);
  ExpectRejected(*model_, swapped, signing_, absl::StatusCode::kDataLoss,
                 "signature does not match its bytes");
  // Every single byte flipped, anywhere, is refused with a documented code.
  std::mt19937_64 rng(seed_);
  for (size_t i = 0; i < a.size(); ++i) {
    std::string bad = a;
    bad[i] ^= static_cast<char>(1 + rng() % 255);
    absl::StatusOr<ModelState> state = DecodeCheckpoint(*model_, bad, std::nullopt, signing_);
    ASSERT_FALSE(state.ok()) << "flip at " << i;
    const absl::StatusCode code = state.status().code();
    ASSERT_TRUE(code == absl::StatusCode::kDataLoss ||
                code == absl::StatusCode::kFailedPrecondition)
        << "flip at " << i << ": " << state.status();
  }
}

// The forgeries the hostile client made (issue 13): pulse id and phases
// edited consistently, CRCs recomputed, on the tiny preset (W=128, P=(1,8)).
class ForgeryTest : public CheckpointSignatureTest {
 protected:
  void SetUp() override {
    absl::StatusOr<std::shared_ptr<const Model>> tiny = LoadModel("random:tiny", seed_);
    ASSERT_TRUE(tiny.ok()) << tiny.status();
    tiny_ = *tiny;
  }

  static std::string Forge(std::string bytes, uint64_t pulse, const ModelConfig& config) {
    PutU64At(bytes, testing::kPulseIdOffset, pulse);
    for (size_t j = 0; j < config.periods.size(); ++j) {
      PutU64At(bytes, PhaseOffset(static_cast<int>(j)), pulse % config.periods[j]);
    }
    EXPECT_TRUE(RecomputeChecksums(bytes));
    return bytes;
  }

  std::shared_ptr<const Model> tiny_;
};

TEST_F(ForgeryTest, SignedForgeriesAreRefused) {
  for (auto [from, to] : {std::pair<uint64_t, uint64_t>{20, 21}, {300, 301}, {300, 299}}) {
    const std::string forged = Forge(Encode(*tiny_, from, signing_), to, tiny_->config());
    ExpectRejected(*tiny_, forged, signing_, absl::StatusCode::kDataLoss,
                   "signature does not match its bytes");
    // The seal stripped to pass it off as unsigned: refused as unsigned.
    std::string stripped = forged.substr(0, forged.size() - fmt::kSealSize);
    testing::PutU32At(stripped, testing::kVersionOffset, 1);
    ASSERT_TRUE(RecomputeChecksums(stripped));
    ExpectRejected(*tiny_, stripped, signing_, absl::StatusCode::kFailedPrecondition,
                   "is not signed");
  }
}

TEST_F(ForgeryTest, WithoutAKeyTheWindowFillBindsPulseIdsBelowTheWindow) {
  const std::string at20 = Encode(*tiny_, 20, {});
  ASSERT_TRUE(DecodeCheckpoint(*tiny_, at20, 20).ok());
  // 20 -> 21: slot 20 was never written (this edit was accepted before).
  ExpectRejected(*tiny_, Forge(at20, 21, tiny_->config()), {}, absl::StatusCode::kDataLoss,
                 "window slot 20 is empty in every head, but pulse id 21 has written slots "
                 "0..20");
  // 20 -> 19: slot 19 was written.
  ExpectRejected(*tiny_, Forge(at20, 19, tiny_->config()), {}, absl::StatusCode::kDataLoss,
                 "must be zero");
  // Far beyond the window: every slot must be written.
  ExpectRejected(*tiny_, Forge(at20, 1000 * 8 + 4, tiny_->config()), {},
                 absl::StatusCode::kDataLoss, "window slot 20 is empty");
}

// What the docs say stays undetectable without a key: once the window has
// filled and every level has fired, an edit that keeps each level's
// phase-zero rule (G empty exactly at phase 0) leaves nothing in the state
// to contradict it. If a stronger check lands, this test says so.
TEST_F(ForgeryTest, WithoutAKeyEditsAfterTheWindowFilledAreUndetectable) {
  const std::string at300 = Encode(*tiny_, 300, {});
  for (uint64_t to : {301ull, 299ull}) {
    absl::StatusOr<ModelState> state =
        DecodeCheckpoint(*tiny_, Forge(at300, to, tiny_->config()), std::nullopt);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(state->pulse_id(), to);
  }
}

// --- Key files ---

class KeyFileTest : public ::testing::Test {
 protected:
  std::string Write(absl::string_view name, absl::string_view contents, mode_t mode = 0600) {
    const std::string path = TestTempPath(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    ::chmod(path.c_str(), mode);
    return path;
  }
};

TEST_F(KeyFileTest, HexAndRawKeysLoadAndAgreeOnTheId) {
  const std::string raw(32, '\xab');
  absl::StatusOr<CheckpointKey> from_raw = CheckpointKey::FromFile(Write("raw", raw));
  ASSERT_TRUE(from_raw.ok()) << from_raw.status();
  absl::StatusOr<CheckpointKey> from_hex =
      CheckpointKey::FromFile(Write("hex", std::string(32, 'a') + "\n"));
  EXPECT_FALSE(from_hex.ok());  // 32 hex digits are 16 bytes
  from_hex = CheckpointKey::FromFile(
      Write("hex", "  abababababababababababababababababababababababababababababababab\n"));
  ASSERT_TRUE(from_hex.ok()) << from_hex.status();
  EXPECT_EQ(from_hex->id(), from_raw->id());
  EXPECT_EQ(from_hex->id_hex().size(), 16u);
  absl::StatusOr<CheckpointKey> other = CheckpointKey::FromMaterial(std::string(32, '\xac'));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->id(), from_raw->id());
}

TEST_F(KeyFileTest, BadKeyFilesAreRefusedPrecisely) {
  auto load = [](const std::string& path) { return CheckpointKey::FromFile(path).status(); };
  absl::Status s = load(Write("short", "too short"));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("holds 9 raw bytes of key material; at least 32 are required"),
            absl::string_view::npos)
      << s;
  s = load(Write("short-hex", std::string(62, 'f')));
  EXPECT_NE(s.message().find("holds 31 bytes (hex-decoded)"), absl::string_view::npos) << s;
  s = load(Write("odd-hex", std::string(65, 'f')));
  EXPECT_NE(s.message().find("65 hex digits, an odd number"), absl::string_view::npos) << s;
  s = load(Write("empty", ""));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  s = load(Write("public", std::string(64, 'f'), 0644));
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_NE(s.message().find("readable or writable by every user (mode 0644)"),
            absl::string_view::npos)
      << s;
  EXPECT_TRUE(load(Write("group", std::string(64, 'f'), 0640)).ok());
  s = load(TestTempPath("no-such-key"));
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  s = load(TestTempRoot());
  EXPECT_NE(s.message().find("is not a regular file"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace hecate
