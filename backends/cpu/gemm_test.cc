#include "backends/cpu/gemm.h"

#include <cmath>
#include <random>
#include <vector>

#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate::cpu {
namespace {

TEST(GemmTest, MatchesNaiveProductOnAwkwardShapes) {
  std::mt19937_64 rng(TestSeed());
  std::normal_distribution<float> normal;
  const int64_t shapes[][3] = {{1, 1, 1}, {1, 97, 33}, {3, 5, 7}, {4, 32, 16}, {5, 33, 65},
                               {67, 130, 71}, {128, 768, 256}, {1, 2752, 1024}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    std::vector<float> a(m * k), b(k * n), c(m * n), base(m * n);
    for (auto& v : a) v = normal(rng);
    for (auto& v : b) v = normal(rng);
    for (auto& v : base) v = normal(rng);
    for (bool accumulate : {false, true}) {
      c = base;
      Gemm(m, n, k, a.data(), k, b.data(), n, c.data(), n, accumulate);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          double ref = accumulate ? base[i * n + j] : 0.0;
          for (int64_t p = 0; p < k; ++p) ref += double(a[i * k + p]) * b[p * n + j];
          ASSERT_NEAR(c[i * n + j], ref, 1e-4 * (1 + std::sqrt(double(k))))
              << m << "x" << n << "x" << k << " at " << i << "," << j;
        }
      }
    }
  }
}

TEST(GemmTest, TransposeRoundTrips) {
  std::mt19937_64 rng(TestSeed());
  std::vector<float> a(37 * 19), t(19 * 37), back(37 * 19);
  for (auto& v : a) v = float(rng() % 1000);
  Transpose(37, 19, a.data(), 19, t.data(), 37);
  EXPECT_EQ(t[5 * 37 + 3], a[3 * 19 + 5]);
  Transpose(19, 37, t.data(), 37, back.data(), 19);
  EXPECT_EQ(a, back);
}

}  // namespace
}  // namespace hecate::cpu
