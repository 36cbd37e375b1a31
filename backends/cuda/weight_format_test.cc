// The bf16-weights mode's host side (CPU, no GPU needed): which tensors are
// rounded, their bytes, and how far the rounding alone moves the CPU
// reference (the rounded model is the CUDA bf16 parity oracle) from the
// fp32 model over the stream cuda_backend_test feeds.
#include "backends/cuda/weight_format.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "base/test_seed.h"
#include "gtest/gtest.h"
#include "kernels/gemv_decode/bf16_weights.h"
#include "runtime/model_state.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

TEST(WeightFormatTest, NamesParseBack) {
  EXPECT_EQ(WeightFormatName(WeightFormat::kFp32), "fp32");
  EXPECT_EQ(WeightFormatName(WeightFormat::kBf16), "bf16");
  EXPECT_EQ(*ParseWeightFormat("bf16"), WeightFormat::kBf16);
  EXPECT_EQ(*ParseWeightFormat("fp32"), WeightFormat::kFp32);
  for (const char* bad : {"", "BF16", "fp16", "bf16 "}) {
    absl::StatusOr<WeightFormat> f = ParseWeightFormat(bad);
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(f.status().message().find("fp32 or bf16"), absl::string_view::npos);
  }
}

TEST(WeightFormatTest, RoundsTheLayersMatricesOnly) {
  const uint64_t seed = TestSeed();
  const ModelConfig config = testing::SmallConfig();
  std::shared_ptr<const Model> model = testing::SensitiveModel(config, seed);
  std::shared_ptr<const Model> rounded = RoundModelMatricesToBf16(*model);
  const Weights& w = model->weights();
  const Weights& r = rounded->weights();
  std::set<std::string> matrices;
  size_t matrix_floats = 0;
  for (const WeightSpec& s : w.specs()) {
    const absl::Span<const float> a = w.data().subspan(s.offset, s.size);
    const absl::Span<const float> b = r.data().subspan(s.offset, s.size);
    if (!IsBf16Matrix(s)) {
      EXPECT_EQ(std::memcmp(a.data(), b.data(), s.size * sizeof(float)), 0) << s.name;
      continue;
    }
    matrices.insert(s.name.substr(s.name.find('.', 7) + 1));  // past "layers.N."
    matrix_floats += s.size;
    const std::vector<float> want = RoundedToBf16(a);
    EXPECT_EQ(std::memcmp(want.data(), b.data(), s.size * sizeof(float)), 0) << s.name;
    EXPECT_NE(std::memcmp(a.data(), b.data(), s.size * sizeof(float)), 0) << s.name;
  }
  EXPECT_EQ(matrices, (std::set<std::string>{"attn.wqkv", "mem.wqkv", "mem.wgate", "wo",
                                             "mlp.w1", "mlp.w3", "mlp.w2"}));
  EXPECT_NE(rounded->fingerprint(), model->fingerprint());
  EXPECT_EQ(WeightBytes(w, WeightFormat::kFp32), w.data().size() * sizeof(float));
  EXPECT_EQ(WeightBytes(w, WeightFormat::kBf16),
            w.data().size() * sizeof(float) - matrix_floats * sizeof(uint16_t));
}

// cuda_backend_test's chunk stream (fire points, ring wraps, a jump to a
// random state) through the CPU reference on the fp32 model and on its
// rounded twin: what the rounding alone does to logits and states. Printed
// against docs/MODEL.md's 3e-3, which it does not meet (2-6e-3 in logits,
// 4-8e-3 in the states here); held to kBf16VsFp32Tolerance.
void ExpectRoundingWithinBound(const char* name, std::shared_ptr<const Model> model,
                               uint64_t seed) {
  const ModelConfig& config = model->config();
  std::unique_ptr<Backend> fp32 = MakeCpuBackend(model);
  std::unique_ptr<Backend> bf16 = MakeCpuBackend(RoundModelMatricesToBf16(*model));
  auto fp32_state = fp32->NewState();
  auto bf16_state = bf16->NewState();
  ASSERT_TRUE(fp32_state.ok() && bf16_state.ok());
  const std::vector<int> splits = {1, 7, 33, 64, 200, 1, 1, 130, -1, 5, 61, 1, 150};
  const std::vector<uint8_t> stream = testing::RandomTokens(1024, seed + 1);
  size_t at = 0;
  double worst_logits = 0, worst_state = 0;
  std::string worst_tensor;
  ModelState a(config), b(config);
  for (int split : splits) {
    if (split < 0) {
      ModelState random(config);
      testing::FillRandom(random, seed + 2);
      for (float& v : random.data()) v *= 0.05f;
      ASSERT_TRUE(fp32->Upload(random, **fp32_state).ok());
      ASSERT_TRUE(bf16->Upload(random, **bf16_state).ok());
      continue;
    }
    const auto chunk = absl::MakeConstSpan(stream).subspan(at, split);
    at += split;
    std::vector<float> want, got;
    ASSERT_TRUE(fp32->Forward(**fp32_state, chunk, LogitsMode::kAll, &want).ok());
    ASSERT_TRUE(bf16->Forward(**bf16_state, chunk, LogitsMode::kAll, &got).ok());
    worst_logits = std::max(worst_logits, testing::RelativeError(got, want));
    ASSERT_TRUE(fp32->Download(**fp32_state, a).ok());
    ASSERT_TRUE(bf16->Download(**bf16_state, b).ok());
    for (const StateTensor& t : a.layout().tensors()) {
      const double err = testing::RelativeError(b.tensor(t), a.tensor(t));
      if (err > worst_state) {
        worst_state = err;
        worst_tensor = t.name;
      }
    }
  }
  std::printf("BF16 ROUNDING %-12s CPU, rounded vs fp32 weights: logits %.3g  state %.3g (%s)"
              "  MODEL.md 3e-03 %s  bound %g\n",
              name, worst_logits, worst_state, worst_tensor.c_str(),
              std::max(worst_logits, worst_state) < 3e-3 ? "met" : "NOT met",
              kBf16VsFp32Tolerance);
  EXPECT_LT(worst_logits, kBf16VsFp32Tolerance);
  EXPECT_LT(worst_state, kBf16VsFp32Tolerance);
}

TEST(WeightFormatTest, RoundingMovesSmallModelWithinBound) {
  const uint64_t seed = TestSeed();
  ExpectRoundingWithinBound("small", testing::SensitiveModel(testing::SmallConfig(), seed), seed);
}

TEST(WeightFormatTest, RoundingMovesTinyModelWithinBound) {
  const uint64_t seed = TestSeed();
  ExpectRoundingWithinBound("tiny", testing::SensitiveModel(*ModelConfig::Preset("tiny"), seed),
                            seed);
}

TEST(WeightFormatTest, RoundingMovesWideHeadsModelWithinBound) {
  const uint64_t seed = TestSeed();
  ExpectRoundingWithinBound("wide_heads",
                            testing::SensitiveModel(testing::WideHeadsConfig(), seed), seed);
}

// hecated's random:tiny (MODEL.md's initialisation, not the sensitive one).
TEST(WeightFormatTest, RoundingMovesRandomTinyWithinBound) {
  const uint64_t seed = TestSeed();
  absl::StatusOr<std::shared_ptr<const Model>> model = LoadModel("random:tiny", seed % 1000 + 1);
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectRoundingWithinBound("random_tiny", *model, seed);
}

}  // namespace
}  // namespace hecate
