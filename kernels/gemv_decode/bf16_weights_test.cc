// FloatToBf16Bits (bf16_weights.h) against exact bit patterns for chosen
// values (ties both ways, negatives, zeros, infinities, NaNs, overflow,
// subnormals), then against an independent nearest-value search in double
// on fresh random bit patterns, normal floats and constructed ties (seed
// printed; HECATE_TEST_SEED replays). Runs on the CPU.
#include "kernels/gemv_decode/bf16_weights.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "base/float_bits.h"
#include "gtest/gtest.h"
#include "kernels/testing/cuda_test_util.h"

namespace hecate {
namespace {

struct Case {
  uint32_t in;
  uint16_t want;
  const char* what;
};

TEST(Bf16WeightsTest, ChosenValuesGiveExactPatterns) {
  const Case cases[] = {
      {0x3F800000u, 0x3F80, "1"},
      {0x3F808000u, 0x3F80, "1 + 2^-8: tie, down to even"},
      {0x3F818000u, 0x3F82, "tie above an odd pattern: up to even"},
      {0x3F808001u, 0x3F81, "just above a tie"},
      {0x3F807FFFu, 0x3F80, "just below a tie"},
      {0x3F80FFFFu, 0x3F81, "just below the next pattern"},
      {0x3FFF8000u, 0x4000, "tie whose carry steps the exponent"},
      {0xBF800000u, 0xBF80, "-1"},
      {0xBF818000u, 0xBF82, "negative tie above an odd pattern"},
      {0xBF808000u, 0xBF80, "negative tie above an even pattern"},
      {0xBF808001u, 0xBF81, "negative, just past a tie"},
      {0x40490FDBu, 0x4049, "pi"},
      {0x3DCCCCCDu, 0x3DCD, "0.1 rounds up"},
      {0x00000000u, 0x0000, "+0"},
      {0x80000000u, 0x8000, "-0 keeps its sign"},
      {0x7F800000u, 0x7F80, "+inf"},
      {0xFF800000u, 0xFF80, "-inf"},
      {0x7F7F7FFFu, 0x7F7F, "largest finite bf16 neighbourhood stays finite"},
      {0x7F7F8000u, 0x7F80, "tie above the largest bf16 (odd): overflows to inf"},
      {0x7F7FFFFFu, 0x7F80, "FLT_MAX rounds to inf"},
      {0xFF7FFFFFu, 0xFF80, "-FLT_MAX rounds to -inf"},
      {0x7FC00000u, 0x7FC0, "quiet NaN"},
      {0x7F800001u, 0x7FC0, "signalling NaN with a low payload stays NaN, not inf"},
      {0xFF800001u, 0xFFC0, "negative NaN keeps its sign"},
      {0x7FFFFFFFu, 0x7FFF, "NaN with every payload bit"},
      {0x00000001u, 0x0000, "smallest subnormal to +0"},
      {0x80000001u, 0x8000, "smallest negative subnormal to -0"},
      {0x00008000u, 0x0000, "subnormal tie, down to even (zero)"},
      {0x00018000u, 0x0002, "subnormal tie above an odd pattern"},
      {0x00010000u, 0x0001, "smallest bf16 subnormal, exact"},
      {0x007FFFFFu, 0x0080, "largest fp32 subnormal to the smallest normal"},
      {0x80008001u, 0x8001, "negative subnormal just past a tie"},
  };
  for (const Case& c : cases) {
    const uint16_t got = FloatToBf16Bits(FloatFromBits(c.in));
    EXPECT_EQ(got, c.want) << c.what << ": 0x" << std::hex << c.in << " gave 0x" << got
                           << ", want 0x" << c.want;
  }
}

TEST(Bf16WeightsTest, WideningIsTheTopHalf) {
  EXPECT_EQ(FloatBits(Bf16BitsToFloat(0x3F80)), 0x3F800000u);
  EXPECT_EQ(FloatBits(Bf16BitsToFloat(0xC049)), 0xC0490000u);
  EXPECT_EQ(FloatBits(Bf16BitsToFloat(0x0001)), 0x00010000u);
  EXPECT_EQ(FloatBits(Bf16BitsToFloat(0xFF80)), 0xFF800000u);
  EXPECT_TRUE(std::isnan(Bf16BitsToFloat(0x7FC0)));
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {  // every pattern survives a round trip
    const uint16_t bits = static_cast<uint16_t>(b);
    if (std::isnan(Bf16BitsToFloat(bits))) continue;
    ASSERT_EQ(FloatToBf16Bits(Bf16BitsToFloat(bits)), bits) << "pattern 0x" << std::hex << b;
  }
}

// The value of a 15-bit bf16 magnitude pattern, letting the exponent field
// reach 255 so the step past the largest finite bf16 is 2^128 (where round
// to nearest overflows to infinity).
double MagnitudeValue(uint32_t pattern) {
  const int e = int(pattern >> 7);
  const int m = int(pattern & 0x7F);
  return e == 0 ? std::ldexp(double(m), -133) : std::ldexp(1.0 + m / 128.0, e - 127);
}

// Nearest bf16 by search in double: the two patterns around |x|, the
// closer, the even one on a tie.
uint16_t Oracle(float x) {
  const uint32_t bits = FloatBits(x);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  if (std::isnan(x)) return 0;  // not compared by value
  if (std::isinf(x)) return static_cast<uint16_t>(sign | 0x7F80u);
  const double a = std::fabs(double(x));
  const uint32_t lo = (bits & 0x7FFFFFFFu) >> 16, hi = lo + 1;
  const double dlo = a - MagnitudeValue(lo), dhi = MagnitudeValue(hi) - a;
  const uint32_t pick = dlo < dhi ? lo : dhi < dlo ? hi : (lo % 2 == 0 ? lo : hi);
  return static_cast<uint16_t>(sign | pick);  // pick 0x7F80 is infinity
}

void ExpectMatchesOracle(const std::vector<float>& xs, const char* what) {
  int mismatches = 0;
  for (const float x : xs) {
    const uint16_t got = FloatToBf16Bits(x);
    if (std::isnan(x)) {
      const bool ok = std::isnan(Bf16BitsToFloat(got)) && (got >> 15) == (FloatBits(x) >> 31);
      EXPECT_TRUE(ok) << what << ": NaN 0x" << std::hex << FloatBits(x) << " gave 0x" << got;
      mismatches += !ok;
    } else if (got != Oracle(x)) {
      ADD_FAILURE() << what << ": 0x" << std::hex << FloatBits(x) << " gave 0x" << got
                    << ", nearest is 0x" << Oracle(x);
      ++mismatches;
    }
    if (mismatches > 10) return;
  }
}

TEST(Bf16WeightsTest, FreshRandomValuesMatchANearestSearch) {
  std::mt19937_64 rng = testing::FreshRng("Bf16WeightsTest");
  std::uniform_int_distribution<uint32_t> any_bits;
  std::vector<float> patterns(1 << 20), ties(1 << 16);
  for (float& x : patterns) x = FloatFromBits(any_bits(rng));  // every class, NaNs included
  for (float& x : ties) x = FloatFromBits((any_bits(rng) & 0xFFFF0000u) | 0x8000u);
  ExpectMatchesOracle(patterns, "random bit pattern");
  ExpectMatchesOracle(ties, "constructed tie");
  ExpectMatchesOracle(testing::RandomNormal(rng, 1 << 20, 0.02f), "weight-like normal");
  ExpectMatchesOracle(testing::RandomNormal(rng, 1 << 16, 1e-39f), "subnormal-scale normal");
}

TEST(Bf16WeightsTest, RoundingErrorIsHalfAnUlpAtMost) {
  std::mt19937_64 rng = testing::FreshRng("Bf16WeightsTest.error");
  const std::vector<float> w = testing::RandomNormal(rng, 1 << 18, 0.02f);
  const std::vector<float> held = RoundedToBf16(w);
  const std::vector<uint16_t> bits = ToBf16(w);
  ASSERT_EQ(held.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    ASSERT_EQ(FloatBits(held[i]), uint32_t(bits[i]) << 16);
    if (std::fabs(w[i]) < 1e-37f) continue;  // subnormal: absolute, not relative, steps
    ASSERT_LE(std::fabs(double(held[i]) - w[i]), std::ldexp(std::fabs(double(w[i])), -8))
        << "index " << i;
  }
}

// The 3e-3 budget issue 14 gives bf16 weights, checked where it matters for
// the kernel tests: one product of the base projections' shape with bf16
// weights stays well inside it against the same product with fp32 weights
// (both in double), so a GPU test at 3e-3 measures the kernel, not luck.
TEST(Bf16WeightsTest, Bf16WeightsKeepAProductWithinTheBudget) {
  std::mt19937_64 rng = testing::FreshRng("Bf16WeightsTest.product");
  const int k = 1024, n = 512;
  const std::vector<float> x = testing::RandomNormal(rng, k, 1.0f);
  const std::vector<float> w = testing::RandomNormal(rng, size_t(k) * n, 0.03f);
  const std::vector<float> held = RoundedToBf16(w);
  std::vector<double> exact(n, 0.0), rounded(n, 0.0);
  for (int i = 0; i < k; ++i) {
    for (int c = 0; c < n; ++c) {
      exact[c] += double(x[i]) * w[size_t(i) * n + c];
      rounded[c] += double(x[i]) * held[size_t(i) * n + c];
    }
  }
  const double err = testing::RelativeError(rounded, exact);
  std::printf("  bf16 weights, k = %d: rel err %.3g against fp32 weights\n", k, err);
  EXPECT_LT(err, 2.5e-3);
  EXPECT_GT(err, 1e-4);  // the rounding did happen
}

}  // namespace
}  // namespace hecate
