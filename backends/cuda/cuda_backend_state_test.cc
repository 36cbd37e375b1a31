// The CUDA backend's states and weights, apart from the forward's parity
// (cuda_backend_test.cc): states round-trip and fork bit for bit through the
// pinned stages, bad inputs leave a state unchanged, bf16 weights halve the
// matrices, and decode batches round up to few graph buckets.
#include <algorithm>
#include <atomic>
#include <limits>
#include <set>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/device_weights.h"
#include "backends/cuda/forward_engine.h"
#include "backends/cuda/state_ring.h"
#include "backends/cuda/weight_format.h"
#include "gtest/gtest.h"
#include "kernels/testing/cuda_test_util.h"
#include "runtime/model_state.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The bf16 layout: the layers' matrices in bf16 only (the fused
// projection's rows 8-aligned), the rest fp32, and the bytes of each.
TEST(CudaBackendWeightsTest, Bf16WeightsHalveTheMatrices) {
  HECATE_SKIP_WITHOUT_CUDA();
  const ModelConfig config = testing::SmallConfig();
  std::shared_ptr<const Model> model =
      testing::SensitiveModel(config, testing::FreshSeed("Bf16Layout"));
  for (WeightFormat format : {WeightFormat::kFp32, WeightFormat::kBf16}) {
    absl::StatusOr<DeviceWeights> w = DeviceWeights::Upload(*model, format);
    ASSERT_TRUE(w.ok()) << w.status();
    EXPECT_EQ(w->format(), format);
    EXPECT_EQ(w->weight_bytes(), WeightBytes(model->weights(), format));
    const bool bf16 = format == WeightFormat::kBf16;
    for (int l = 0; l < config.n_layers; ++l) {
      const DeviceLayerWeights& d = w->layer(l);
      for (const DeviceMatrix* m : {&d.proj, &d.wo, &d.w13, &d.w2}) {
        EXPECT_EQ(m->fp32 == nullptr, bf16);
        EXPECT_EQ(m->bf16 != nullptr, bf16);
        EXPECT_GE(m->ld, m->cols);
      }
      EXPECT_EQ(d.proj.cols, DeviceWeights::ProjCols(config));
      EXPECT_EQ(d.proj.ld, bf16 ? 464 : 460);  // 6 * 72 + 3 * 3 * 3 = 459
      EXPECT_NE(d.norm1, nullptr);
    }
  }
  EXPECT_LT(WeightBytes(model->weights(), WeightFormat::kBf16),
            0.6 * WeightBytes(model->weights(), WeightFormat::kFp32));
}

TEST(DecodeBucketTest, ExactToSixteenThenEightBucketsPerDoubling) {
  for (int b = 1; b <= 16; ++b) EXPECT_EQ(DecodeBucket(b, 1024), b);
  std::set<int> buckets;
  for (int b = 1; b <= 1024; ++b) {
    const int bucket = DecodeBucket(b, 1024);
    EXPECT_GE(bucket, b);
    EXPECT_LE(bucket - b, b / 8) << b;  // at most 12.5% padding
    buckets.insert(bucket);
  }
  EXPECT_LE(buckets.size(), 64u);
  EXPECT_EQ(DecodeBucket(250, 256), 256);
  EXPECT_EQ(DecodeBucket(250, 252), 252);  // never past the engine's batch
  EXPECT_EQ(DecodeBucket(1000, 1000), 1000);
}

class CudaBackendRoundTripTest : public ::testing::TestWithParam<size_t> {};

// Whole states through the pinned stages: one slice (the default 8 MiB) and
// many, with a last slice cut short (an odd slice size).
TEST_P(CudaBackendRoundTripTest, UploadDownloadRoundTripIsBitExact) {
  HECATE_SKIP_WITHOUT_CUDA();
  const uint64_t seed = testing::FreshSeed("RoundTrip");
  const ModelConfig config = *ModelConfig::Preset("tiny");
  CudaBackendOptions options;
  options.transfer_slice_bytes = GetParam();
  absl::StatusOr<std::unique_ptr<Backend>> cuda =
      MakeCudaBackend(testing::SensitiveModel(config, seed), options);
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  auto state = (*cuda)->NewState();
  ASSERT_TRUE(state.ok());
  // The canonical bytes and the decode rings' tail (state_ring.h).
  EXPECT_EQ((*state)->resident_bytes(), StateRing(config, StateRing::Slots()).state_bytes());
  EXPECT_GT((*state)->resident_bytes(), StateLayout(config).total_bytes());

  ModelState zero(config), fresh(config);
  std::fill(fresh.data().begin(), fresh.data().end(), kNaN);
  ASSERT_TRUE((*cuda)->Download(**state, fresh).ok());
  EXPECT_TRUE(fresh.BitwiseEquals(zero)) << "a new state is all zeros, pulse 0";

  ModelState host(config), back(config);
  testing::FillRandom(host, seed);
  ASSERT_TRUE((*cuda)->Upload(host, **state).ok());
  EXPECT_EQ((*state)->pulse_id(), host.pulse_id());
  std::fill(back.data().begin(), back.data().end(), kNaN);
  ASSERT_TRUE((*cuda)->Download(**state, back).ok());
  EXPECT_TRUE(back.BitwiseEquals(host));
}

INSTANTIATE_TEST_SUITE_P(SliceSizes, CudaBackendRoundTripTest,
                         ::testing::Values(size_t{8} << 20, size_t{65536 + 12}));

// Fork: Copy is device to device, bit exact, and the copies are independent.
TEST(CudaBackendStateTest, CopyIsBitExactAndIndependent) {
  HECATE_SKIP_WITHOUT_CUDA();
  const uint64_t seed = testing::FreshSeed("Copy");
  const ModelConfig config = *ModelConfig::Preset("tiny");
  absl::StatusOr<std::unique_ptr<Backend>> cuda =
      MakeCudaBackend(testing::SensitiveModel(config, seed));
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  auto source = (*cuda)->NewState();
  auto copy = (*cuda)->NewState();
  ASSERT_TRUE(source.ok() && copy.ok());
  ModelState host(config);
  testing::FillRandom(host, seed);
  ASSERT_TRUE((*cuda)->Upload(host, **source).ok());
  ASSERT_TRUE((*cuda)->Copy(**source, **copy).ok());
  EXPECT_EQ((*copy)->pulse_id(), host.pulse_id());
  ModelState back(config);
  std::fill(back.data().begin(), back.data().end(), kNaN);
  ASSERT_TRUE((*cuda)->Download(**copy, back).ok());
  EXPECT_TRUE(back.BitwiseEquals(host));
  // Advancing the copy leaves the source as it was.
  const std::vector<uint8_t> tokens = {1, 2, 3, 4, 5};
  std::vector<float> logits;
  ASSERT_TRUE((*cuda)->Forward(**copy, tokens, LogitsMode::kLast, &logits).ok());
  std::fill(back.data().begin(), back.data().end(), kNaN);
  ASSERT_TRUE((*cuda)->Download(**source, back).ok());
  EXPECT_TRUE(back.BitwiseEquals(host));
}

TEST(CudaBackendValidationTest, BadInputsLeaveStateUnchanged) {
  HECATE_SKIP_WITHOUT_CUDA();
  const uint64_t seed = testing::FreshSeed("Validation");
  const ModelConfig config = testing::SmallConfig();
  std::shared_ptr<const Model> model = testing::SensitiveModel(config, seed);
  absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeCudaBackend(model);
  absl::StatusOr<std::unique_ptr<Backend>> other = MakeCudaBackend(model);
  ASSERT_TRUE(cuda.ok() && other.ok());
  std::unique_ptr<Backend> cpu = MakeCpuBackend(model);
  auto state = (*cuda)->NewState();
  auto foreign = (*other)->NewState();
  auto cpu_state = cpu->NewState();
  ASSERT_TRUE(state.ok() && foreign.ok() && cpu_state.ok());
  ModelState before(config);
  testing::FillRandom(before, seed);
  ASSERT_TRUE((*cuda)->Upload(before, **state).ok());

  const auto tokens = testing::RandomTokens(20, seed);
  std::vector<float> logits;
  EXPECT_EQ((*cuda)->Forward(**foreign, tokens, LogitsMode::kNone, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*cuda)->Forward(**cpu_state, tokens, LogitsMode::kNone, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*cuda)->Forward(**state, {}, LogitsMode::kLast, &logits).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*cuda)->Forward(**state, tokens, LogitsMode::kAll, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  std::atomic<bool> cancel{true};
  size_t applied = 99;
  EXPECT_EQ((*cuda)->Forward(**state, tokens, LogitsMode::kLast, &logits, &cancel, &applied)
                .code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(applied, 0u);
  ForwardItem twice[2];
  twice[0].state = twice[1].state = state->get();
  twice[0].tokens = twice[1].tokens = absl::MakeConstSpan(tokens).first(1);
  twice[0].mode = twice[1].mode = LogitsMode::kNone;
  EXPECT_EQ((*cuda)->ForwardBatch(absl::MakeSpan(twice)).code(),
            absl::StatusCode::kInvalidArgument);

  ModelState after(config);
  ASSERT_TRUE((*cuda)->Download(**state, after).ok());
  EXPECT_TRUE(after.BitwiseEquals(before));
}

}  // namespace
}  // namespace hecate
