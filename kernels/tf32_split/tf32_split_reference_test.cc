// The TF32 split's host reference on fresh random values of every kind
// (random bit patterns, normals, subnormals, the largest exponents, exact
// ties, values that would round past the largest TF32, infinities, NaN):
// both parts exactly TF32, hi rounded to nearest with ties away (checked
// against a float64 computation), and hi + lo within 2^-22 of x. CPU only.
#include "kernels/tf32_split/tf32_split_reference.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "base/float_bits.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

// RoundToTf32 computed another way: in float64, |x| / ulp rounded half up
// (ties away from zero), the ulp being 2^(e - 10) for x in [2^e, 2^(e+1))
// and 2^-136 for subnormals; clamped to the largest TF32 (2^128 - 2^117).
double ExpectedTf32(float x) {
  const double a = std::fabs(static_cast<double>(x));
  if (a == 0) return x;
  const int e = std::max(std::ilogb(a), -126);
  const double ulp = std::ldexp(1.0, e - 10);
  double r = std::floor(a / ulp + 0.5) * ulp;
  const double largest = std::ldexp(1.0, 128) - std::ldexp(1.0, 117);
  if (r > largest) r = largest;
  return std::signbit(x) ? -r : r;
}

// Values of every class the split must handle, drawn fresh.
std::vector<float> Values(std::mt19937_64& rng) {
  std::vector<float> v;
  auto pattern = [&](uint32_t exponent, uint32_t mantissa) {
    const uint32_t sign = static_cast<uint32_t>(rng() & 1) << 31;
    return FloatFromBits(sign | (exponent << 23) | (mantissa & 0x7FFFFFu));
  };
  for (int i = 0; i < 200000; ++i) v.push_back(FloatFromBits(static_cast<uint32_t>(rng())));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int i = 0; i < 50000; ++i) v.push_back(normal(rng));
  for (int i = 0; i < 50000; ++i) {
    const uint32_t m = static_cast<uint32_t>(rng());
    v.push_back(pattern(0, m));                // subnormals
    v.push_back(pattern(1 + rng() % 20, m));   // remainders that go subnormal
    v.push_back(pattern(254 - rng() % 4, m));  // the largest exponents
    v.push_back(pattern(1 + rng() % 254, (m & ~0x1FFFu) | 0x1000u));  // exact ties
    v.push_back(pattern(1 + rng() % 254, (m & ~0x1FFFu) | 0x0FFFu));  // just below a tie
  }
  for (uint32_t low : {0x1000u, 0x1001u, 0x1FFFu, 0x0FFFu}) {
    v.push_back(pattern(254, 0x7FE000u | low));  // around the overflow threshold
  }
  v.push_back(std::numeric_limits<float>::max());
  v.push_back(-std::numeric_limits<float>::max());
  v.push_back(std::numeric_limits<float>::denorm_min());
  v.push_back(0.0f);
  v.push_back(-0.0f);
  return v;
}

TEST(Tf32SplitReferenceTest, PartsAreTf32AndSumToX) {
  std::mt19937_64 rng(TestSeed());  // prints HECATE_TEST_SEED=N for a replay
  int failures = 0;
  double worst = 0;
  for (const float x : Values(rng)) {
    if (!std::isfinite(x)) continue;  // PassesInfinitiesAndNaNThrough
    const Tf32Parts p = Tf32Split(x);
    const double expected_hi = ExpectedTf32(x);
    const double sum = static_cast<double>(p.hi) + static_cast<double>(p.lo);
    const double error = std::fabs(sum - static_cast<double>(x));
    // 2^-22 relative; absolute 2^-137 (half TF32's subnormal spacing)
    // where the remainder lies below fp32's normal range.
    const double bound =
        std::max(std::ldexp(std::fabs(static_cast<double>(x)), -22), std::ldexp(1.0, -137));
    const bool ok = (FloatBits(p.hi) & ~kTf32Mask) == 0 && (FloatBits(p.lo) & ~kTf32Mask) == 0 &&
                    std::isfinite(p.hi) && std::isfinite(p.lo) &&
                    static_cast<double>(p.hi) == expected_hi && error <= bound &&
                    std::signbit(p.hi) == std::signbit(x);
    // The relative bound, where the remainder is a normal number.
    if (std::fabs(x) >= std::ldexp(1.0f, -100)) {
      worst = std::max(worst, error / std::fabs(static_cast<double>(x)));
    }
    if (!ok && failures++ < 10) {
      ADD_FAILURE() << "x " << x << " (0x" << std::hex << FloatBits(x) << "): hi 0x"
                    << FloatBits(p.hi) << " lo 0x" << FloatBits(p.lo) << std::dec
                    << ", expected hi " << expected_hi << ", |hi + lo - x| " << error << " > "
                    << bound << "?";
    }
  }
  EXPECT_EQ(failures, 0);
  std::printf(
      "[Tf32SplitReferenceTest] worst |hi + lo - x| / |x| (|x| >= "
      "2^-100) %.3g (2^-22 = %.3g)\n",
      worst, std::ldexp(1.0, -22));
}

TEST(Tf32SplitReferenceTest, TiesRoundAwayFromZero) {
  // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(RoundToTf32(1.0f + std::ldexp(1.0f, -11)), 1.0f + std::ldexp(1.0f, -10));
  EXPECT_EQ(RoundToTf32(-1.0f - std::ldexp(1.0f, -11)), -1.0f - std::ldexp(1.0f, -10));
  EXPECT_EQ(RoundToTf32(1.0f + std::ldexp(1.0f, -12)), 1.0f);
  // A carry out of the mantissa steps the exponent.
  EXPECT_EQ(RoundToTf32(FloatFromBits(0x3FFFF000u)), 2.0f);
  // The largest subnormal rounds up to the smallest normal.
  EXPECT_EQ(FloatBits(RoundToTf32(FloatFromBits(0x007FFFFFu))), 0x00800000u);
}

TEST(Tf32SplitReferenceTest, LargestValuesStayFinite) {
  const float max = std::numeric_limits<float>::max();
  const Tf32Parts p = Tf32Split(max);
  EXPECT_EQ(FloatBits(p.hi), 0x7F7FE000u);  // the largest TF32, not infinity
  EXPECT_LE(std::fabs(static_cast<double>(p.hi) + p.lo - static_cast<double>(max)),
            std::ldexp(static_cast<double>(max), -22));
  EXPECT_EQ(FloatBits(Tf32Split(-max).hi), 0xFF7FE000u);
}

TEST(Tf32SplitReferenceTest, PassesInfinitiesAndNaNThrough) {
  for (uint32_t bits :
       {0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F800001u, 0xFFFFFFFFu, 0x7FA01234u}) {
    const Tf32Parts p = Tf32Split(FloatFromBits(bits));
    EXPECT_EQ(FloatBits(p.hi), bits) << std::hex << bits;
    EXPECT_EQ(FloatBits(p.lo), 0u) << std::hex << bits;
    EXPECT_EQ(FloatBits(RoundToTf32(FloatFromBits(bits))), bits) << std::hex << bits;
  }
}

TEST(Tf32SplitReferenceTest, ZerosAndTf32ValuesAreUnchanged) {
  EXPECT_EQ(FloatBits(Tf32Split(0.0f).hi), 0u);
  EXPECT_EQ(FloatBits(Tf32Split(-0.0f).hi), 0x80000000u);
  EXPECT_EQ(FloatBits(Tf32Split(-0.0f).lo), 0u);
  const float exact = FloatFromBits(0x40492000u);  // low 13 bits zero
  EXPECT_EQ(Tf32Split(exact).hi, exact);
  EXPECT_EQ(FloatBits(Tf32Split(exact).lo), 0u);
}

// Tf32ProductSum adds the small terms first: c + lo meet before hi, so two
// half-ulp terms of 1 survive that would each vanish into 1 alone; beta 0
// never reads c.
TEST(Tf32SplitReferenceTest, ProductSumAddsSmallTermsFirst) {
  const float tiny = std::ldexp(1.0f, -24);  // half an ulp of 1
  EXPECT_EQ(Tf32ProductSum(tiny, 1.0f, tiny, 1.0f), 1.0f + std::ldexp(1.0f, -23));
  EXPECT_EQ(Tf32ProductSum(3.0f, 0.5f, 0.25f, 8.0f), 9.75f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Tf32ProductSum(nan, 0.0f, 0.25f, 8.0f), 8.25f);
  EXPECT_TRUE(std::isnan(Tf32ProductSum(nan, 1.0f, 0.25f, 8.0f)));
}

}  // namespace
}  // namespace hecate
