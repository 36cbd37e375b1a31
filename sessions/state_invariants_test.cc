#include "sessions/state_invariants.h"

#include <cmath>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "sessions/checkpoint_test_util.h"

namespace hecate {
namespace {

using testing::FillRandomValidState;
using testing::MicroConfig;

// Micro config: W=4, periods (1, 2, 4).
class StateInvariantsTest : public ::testing::Test {
 protected:
  StateInvariantsTest() : state_(MicroConfig()), seed_(TestSeed()) {}

  float* Tensor(int layer, StateKind kind, int level) {
    return state_.tensor(layer, kind, level);
  }
  void ExpectDataLoss(absl::string_view needle) {
    absl::Status s = VerifyStateInvariants(state_);
    EXPECT_TRUE(absl::IsDataLoss(s)) << s;
    EXPECT_NE(s.message().find(needle), absl::string_view::npos) << s;
  }

  ModelState state_;
  uint64_t seed_;
};

TEST_F(StateInvariantsTest, RandomValidStatesPass) {
  for (uint64_t pulse : {0ull, 1ull, 2ull, 3ull, 4ull, 5ull, 7ull, 8ull, 1001ull,
                         (1ull << 40) + 6, ~0ull}) {
    FillRandomValidState(state_, pulse, seed_ + pulse);
    EXPECT_TRUE(VerifyStateInvariants(state_).ok()) << pulse << ": " << VerifyStateInvariants(state_);
  }
}

TEST_F(StateInvariantsTest, NonFiniteValuesAreDataLoss) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    FillRandomValidState(state_, 1001, seed_);
    state_.data()[seed_ % state_.data().size()] = bad;
    ExpectDataLoss("non-finite");
  }
}

TEST_F(StateInvariantsTest, ErrorBufferMustBeZeroAtPhaseZero) {
  FillRandomValidState(state_, 1000, seed_);  // 1000 % 2 == 1000 % 4 == 0
  Tensor(1, StateKind::kErrorBuffer, 2)[5] = 0.25f;
  ExpectDataLoss("layers.1.level2.G element 5");
  FillRandomValidState(state_, 1002, seed_);  // phase 0 for period 2, 2 for period 4
  Tensor(0, StateKind::kErrorBuffer, 1)[0] = -1.0f;
  ExpectDataLoss("layers.0.level1.G");
  FillRandomValidState(state_, 1002, seed_);
  Tensor(0, StateKind::kErrorBuffer, 2)[0] = -1.0f;  // phase 2: allowed
  EXPECT_TRUE(VerifyStateInvariants(state_).ok());
}

TEST_F(StateInvariantsTest, LevelsThatNeverFiredHoldNothing) {
  FillRandomValidState(state_, 3, seed_);  // level 2 (period 4) has not fired
  Tensor(0, StateKind::kMemory, 2)[7] = 1e-3f;
  ExpectDataLoss("has not fired");
  FillRandomValidState(state_, 3, seed_);
  Tensor(1, StateKind::kMomentum, 2)[0] = 1e-3f;
  ExpectDataLoss("has not fired");
  FillRandomValidState(state_, 0, seed_);
  Tensor(0, StateKind::kMemory, 0)[0] = 1e-3f;
  ExpectDataLoss("layers.0.level0.M");
}

TEST_F(StateInvariantsTest, PeriodOneLevelHasNoMomentum) {
  FillRandomValidState(state_, 1001, seed_);
  Tensor(1, StateKind::kMomentum, 0)[3] = 2.0f;
  ExpectDataLoss("no momentum");
}

TEST_F(StateInvariantsTest, UnwrittenWindowSlotsAreZero) {
  FillRandomValidState(state_, 2, seed_);  // slots 2 and 3 unwritten
  // [H=2, W=4, d=4]: head 1, slot 3, element 2.
  Tensor(1, StateKind::kWindowValues, -1)[(1 * 4 + 3) * 4 + 2] = 0.5f;
  ExpectDataLoss("window slots 2..3");
  FillRandomValidState(state_, 2, seed_);
  Tensor(1, StateKind::kWindowKeys, -1)[(1 * 4 + 1) * 4 + 2] = 0.5f;  // slot 1: written
  EXPECT_TRUE(VerifyStateInvariants(state_).ok());
}

// The ring's fill is min(N, W): a slot below it that is zero in every head
// was never written, so the pulse id is not N (an edited pulse id).
TEST_F(StateInvariantsTest, WrittenWindowSlotsAreNotEmpty) {
  for (uint64_t pulse : {3ull, 1001ull}) {
    FillRandomValidState(state_, pulse, seed_ + pulse);
    const size_t slot = (pulse - 1) % 4;  // the newest slot
    for (StateKind kind : {StateKind::kWindowKeys, StateKind::kWindowValues}) {
      FillRandomValidState(state_, pulse, seed_ + pulse);
      float* t = Tensor(1, kind, -1);
      for (size_t h = 0; h < 2; ++h) {
        for (size_t i = 0; i < 4; ++i) t[(h * 4 + slot) * 4 + i] = 0.0f;
      }
      ExpectDataLoss(absl::StrCat("window slot ", slot, " is empty in every head, but pulse id ",
                                  pulse, " has written slots 0..", pulse < 4 ? pulse - 1 : 3));
      // One non-zero element in one head is a written slot.
      t[(1 * 4 + slot) * 4 + 3] = -0.25f;
      EXPECT_TRUE(VerifyStateInvariants(state_).ok()) << VerifyStateInvariants(state_);
    }
  }
}

}  // namespace
}  // namespace hecate
