// DeviceWeights' TF32 splits (the 3xtf32 GEMM mode): every layer matrix of
// an fp32 upload carries hi and lo equal bit for bit to the host reference
// (kernels/tf32_split/tf32_split_reference.h) of its fp32 copy, padding
// included; bf16 weights and the other modes carry none.
#include "backends/cuda/device_weights.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/float_bits.h"
#include "gtest/gtest.h"
#include "kernels/cuda_check.h"
#include "kernels/testing/cuda_test_util.h"
#include "kernels/tf32_split/tf32_split_reference.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

std::vector<float> ToHost(const float* device, size_t n) {
  std::vector<float> host(n);
  EXPECT_EQ(cudaMemcpy(host.data(), device, n * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  return host;
}

TEST(DeviceWeightsTest, Tf32PartsSplitEveryLayerMatrix) {
  HECATE_SKIP_WITHOUT_CUDA();
  std::mt19937_64 rng = testing::FreshRng("DeviceWeightsTf32Parts");
  // Small: the fused projection's 459 columns padded to 460.
  const ModelConfig config = testing::SmallConfig();
  std::shared_ptr<const Model> model = testing::SensitiveModel(config, rng());
  absl::StatusOr<DeviceWeights> w = DeviceWeights::Upload(*model, WeightFormat::kFp32, true);
  ASSERT_TRUE(w.ok()) << w.status();
  size_t matrix_bytes = 0;
  for (int l = 0; l < config.n_layers; ++l) {
    const DeviceLayerWeights& d = w->layer(l);
    for (const DeviceMatrix* m : {&d.proj, &d.wo, &d.w13, &d.w2}) {
      ASSERT_NE(m->fp32, nullptr);
      ASSERT_NE(m->tf32_hi, nullptr);
      ASSERT_NE(m->tf32_lo, nullptr);
      matrix_bytes += m->elements() * sizeof(float);
      const std::vector<float> fp32 = ToHost(m->fp32, m->elements());
      const std::vector<float> hi = ToHost(m->tf32_hi, m->elements());
      const std::vector<float> lo = ToHost(m->tf32_lo, m->elements());
      size_t wrong = 0;
      for (size_t i = 0; i < fp32.size(); ++i) {
        const Tf32Parts p = Tf32Split(fp32[i]);
        if ((FloatBits(hi[i]) != FloatBits(p.hi) || FloatBits(lo[i]) != FloatBits(p.lo)) &&
            wrong++ < 3) {
          ADD_FAILURE() << "layer " << l << " element " << i << ": " << fp32[i];
        }
      }
      EXPECT_EQ(wrong, 0u);
    }
  }
  EXPECT_GE(w->tf32_parts_bytes(), 2 * matrix_bytes);
  EXPECT_LT(w->tf32_parts_bytes(),
            2 * matrix_bytes + 16 * 1024);  // alignment only

  for (WeightFormat format : {WeightFormat::kFp32, WeightFormat::kBf16}) {
    // No parts without the flag, nor for bf16 (its widened values are TF32).
    absl::StatusOr<DeviceWeights> plain =
        DeviceWeights::Upload(*model, format, format == WeightFormat::kBf16);
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(plain->tf32_parts_bytes(), 0u);
    EXPECT_EQ(plain->layer(0).proj.tf32_hi, nullptr);
    EXPECT_EQ(plain->layer(0).w2.tf32_lo, nullptr);
  }
}

}  // namespace
}  // namespace hecate
