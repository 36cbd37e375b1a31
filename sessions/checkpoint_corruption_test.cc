// Every corruption class of a real checkpoint is reported, never accepted,
// never a crash: each byte flipped, each length of truncation, garbage, and
// random edits whose CRCs were recomputed (the checks behind the CRCs).
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint.h"
#include "sessions/checkpoint_test_util.h"

namespace hecate {
namespace {

using testing::FillRandomValidState;
using testing::RecomputeChecksums;

bool IsRejection(absl::StatusCode code) {
  return code == absl::StatusCode::kDataLoss || code == absl::StatusCode::kInvalidArgument ||
         code == absl::StatusCode::kFailedPrecondition;
}

class CorruptionTest : public ::testing::Test {
 protected:
  CorruptionTest() : rng_(TestSeed()) {}

  std::string RealCheckpoint(const Model& model) {
    ModelState state(model.config());
    FillRandomValidState(state, 1000 + rng_() % 1000, rng_());
    absl::StatusOr<std::string> bytes = EncodeCheckpoint(model, state);
    EXPECT_TRUE(bytes.ok()) << bytes.status();
    return *bytes;
  }

  // The decoder must reject `bytes` with one of the documented codes.
  void ExpectRejected(const Model& model, const std::string& bytes, const std::string& what) {
    absl::StatusOr<ModelState> state = DecodeCheckpoint(model, bytes);
    ASSERT_FALSE(state.ok()) << what << " was accepted";
    ASSERT_TRUE(IsRejection(state.status().code())) << what << ": " << state.status();
  }

  void FlipAt(const Model& model, const std::string& good, size_t i) {
    std::string bad = good;
    bad[i] ^= static_cast<char>(1 + rng_() % 255);
    ExpectRejected(model, bad, absl::StrCat("flip at ", i));
  }

  std::mt19937_64 rng_;
};

TEST_F(CorruptionTest, EveryByteFlippedOfAMicroCheckpoint) {
  std::shared_ptr<const Model> model = testing::MicroModel(rng_());
  const std::string good = RealCheckpoint(*model);
  for (size_t i = 0; i < good.size(); ++i) {
    FlipAt(*model, good, i);
    if (HasFatalFailure()) return;
  }
}

TEST_F(CorruptionTest, EveryTruncationOfAMicroCheckpointIsDataLoss) {
  std::shared_ptr<const Model> model = testing::MicroModel(rng_());
  const std::string good = RealCheckpoint(*model);
  for (size_t n = 0; n < good.size(); ++n) {
    absl::StatusOr<ModelState> state = DecodeCheckpoint(*model, good.substr(0, n));
    ASSERT_TRUE(absl::IsDataLoss(state.status())) << "length " << n << ": " << state.status();
  }
}

TEST_F(CorruptionTest, DenseSampleOfATinyCheckpoint) {
  absl::StatusOr<std::shared_ptr<const Model>> tiny = LoadModel("random:tiny", rng_());
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  const Model& model = **tiny;
  const std::string good = RealCheckpoint(model);
  // Every byte of the header and the first sections' framing, then a
  // random sample across the whole file, then the footer.
  for (size_t i = 0; i < 1024; ++i) FlipAt(model, good, i);
  for (int k = 0; k < 1500; ++k) FlipAt(model, good, rng_() % good.size());
  for (size_t i = good.size() - 16; i < good.size(); ++i) FlipAt(model, good, i);
  // Truncation classes: inside the preamble, header, each section, footer.
  for (size_t n = 0; n < 1024; ++n) ExpectRejected(model, good.substr(0, n), "truncated");
  for (int k = 0; k < 300; ++k) {
    const size_t n = rng_() % good.size();
    ExpectRejected(model, good.substr(0, n), absl::StrCat("truncated to ", n));
  }
  for (size_t n = good.size() - 17; n < good.size(); ++n) {
    ExpectRejected(model, good.substr(0, n), "truncated footer");
  }
}

TEST_F(CorruptionTest, GarbageIsRejected) {
  std::shared_ptr<const Model> model = testing::MicroModel(rng_());
  const std::string good = RealCheckpoint(*model);
  for (int k = 0; k < 2000; ++k) {
    std::string garbage(rng_() % (2 * good.size()), '\0');
    for (char& c : garbage) c = static_cast<char>(rng_());
    if (k % 2 == 0 && garbage.size() >= 8) garbage.replace(0, 8, good.substr(0, 8));
    ExpectRejected(*model, garbage, "garbage");
    if (HasFatalFailure()) return;
  }
}

// Edits behind valid CRCs: anything accepted must be a canonical checkpoint
// (re-encoding gives the same bytes), and nothing crashes.
TEST_F(CorruptionTest, RandomEditsWithRecomputedChecksums) {
  std::shared_ptr<const Model> model = testing::MicroModel(rng_());
  const std::string good = RealCheckpoint(*model);
  int accepted = 0;
  for (int k = 0; k < 5000; ++k) {
    std::string bytes = good;
    const int edits = 1 + static_cast<int>(rng_() % 4);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const size_t at = rng_() % bytes.size();
      switch (rng_() % 4) {
        case 0:
          bytes[at] ^= static_cast<char>(1 + rng_() % 255);
          break;
        case 1:
          bytes.erase(at, 1 + rng_() % 8);
          break;
        case 2:
          bytes.insert(at, std::string(1 + rng_() % 8, static_cast<char>(rng_())));
          break;
        default:  // an edit in the header, where the checks are densest
          bytes[rng_() % std::min<size_t>(bytes.size(), 200)] ^= static_cast<char>(1 + rng_() % 255);
      }
    }
    RecomputeChecksums(bytes);
    absl::StatusOr<ModelState> state = DecodeCheckpoint(*model, bytes);
    if (state.ok()) {
      ++accepted;
      absl::StatusOr<std::string> again = EncodeCheckpoint(*model, *state);
      ASSERT_TRUE(again.ok()) << again.status();
      ASSERT_EQ(*again, bytes) << "accepted a non-canonical checkpoint";
    } else {
      ASSERT_TRUE(IsRejection(state.status().code())) << state.status();
    }
  }
  // Flips inside float data with fixed CRCs are valid states: some pass.
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace hecate
