#include "kernels/smoke/saxpy.h"

#include <vector>

#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/cuda_test_util.h"

namespace hecate {
namespace {

TEST(SaxpyTest, RejectsNullPointers) {
  // Validation happens before any CUDA call, so this runs without a GPU too.
  EXPECT_EQ(Saxpy(1.0f, nullptr, nullptr, 5, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SaxpyTest, MatchesHostLoop) {
  HECATE_SKIP_WITHOUT_CUDA();
  std::mt19937_64 rng = testing::FreshRng("SaxpyTest");
  const size_t n = 100003;  // not a multiple of any block size
  std::vector<float> x = testing::RandomNormal(rng, n);
  std::vector<float> y = testing::RandomNormal(rng, n);
  const float a = testing::RandomUniform(rng, 1, 0.5f, 2.0f)[0];

  auto dx = DeviceBuffer<float>::Create(n);
  auto dy = DeviceBuffer<float>::Create(n);
  ASSERT_TRUE(dx.ok() && dy.ok());
  ASSERT_TRUE(dx->CopyFromHost(x).ok());
  ASSERT_TRUE(dy->CopyFromHost(y).ok());
  ASSERT_TRUE(Saxpy(a, dx->data(), dy->data(), n, nullptr).ok());
  std::vector<float> got(n);
  ASSERT_TRUE(dy->CopyToHost(absl::MakeSpan(got)).ok());

  std::vector<double> want(n);
  for (size_t i = 0; i < n; ++i) want[i] = double(a) * x[i] + y[i];
  EXPECT_LT(testing::RelativeError(got, want), 1e-6);
}

}  // namespace
}  // namespace hecate
