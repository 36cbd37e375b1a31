#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/test_temp_dir.h"
#include "gtest/gtest.h"
#include "runtime/model.h"
#include "runtime/safetensors.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

TEST(WeightsTest, RandomInitFollowsModelMd) {
  ModelConfig c = testing::SmallConfig();
  Weights w = Weights::Random(c, 7);
  const int per_gate = c.levels() * c.n_heads;
  const float* b = w.Find("layers.1.mem.bgate");
  ASSERT_NE(b, nullptr);
  EXPECT_FLOAT_EQ(b[0], 3.0f);
  EXPECT_FLOAT_EQ(b[per_gate], -4.6f);
  EXPECT_FLOAT_EQ(b[2 * per_gate + per_gate - 1], 2.2f);
  EXPECT_FLOAT_EQ(w.norm_f()[5], 1.0f);
  // Normal(0, 0.02) weights.
  const WeightSpec& wo = w.specs()[6];
  ASSERT_EQ(wo.name, "layers.0.wo");
  double sum2 = 0;
  for (size_t i = 0; i < wo.size; ++i) sum2 += w.data()[wo.offset + i] * w.data()[wo.offset + i];
  EXPECT_NEAR(std::sqrt(sum2 / wo.size), 0.02, 0.002);
  // Deterministic per seed, different across seeds.
  Weights again = Weights::Random(c, 7), other = Weights::Random(c, 8);
  EXPECT_EQ(std::memcmp(w.data().data(), again.data().data(), w.data().size() * 4), 0);
  EXPECT_NE(std::memcmp(w.data().data(), other.data().data(), w.data().size() * 4), 0);
}

TEST(WeightsTest, SafetensorsRoundTripAndFingerprint) {
  ModelConfig c = testing::SmallConfig();
  auto model = testing::SensitiveModel(c, 3);
  std::string bytes = model->weights().ToSafetensors();
  absl::StatusOr<Weights> back = Weights::FromSafetensors(c, bytes, "mem");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->data().size(), model->weights().data().size());
  EXPECT_EQ(std::memcmp(back->data().data(), model->weights().data().data(), back->data().size() * 4), 0);
  Model again(c, *std::move(back));
  EXPECT_EQ(again.fingerprint(), model->fingerprint());
  EXPECT_EQ(model->fingerprint().size(), 64u);
  EXPECT_NE(testing::SensitiveModel(c, 4)->fingerprint(), model->fingerprint());
}

TEST(WeightsTest, CloneIsAnIndependentEqualCopy) {
  ModelConfig c = testing::SmallConfig();
  auto model = testing::SensitiveModel(c, 5);
  Weights copy = model->weights().Clone();
  ASSERT_EQ(copy.data().size(), model->weights().data().size());
  EXPECT_NE(copy.data().data(), model->weights().data().data());
  EXPECT_EQ(std::memcmp(copy.data().data(), model->weights().data().data(),
                        copy.data().size() * sizeof(float)),
            0);
  EXPECT_EQ(copy.layer(1).wo, copy.Find("layers.1.wo"));  // pointers into the copy
  copy.mutable_data()[0] += 1.0f;
  EXPECT_NE(copy.data()[0], model->weights().data()[0]);
  EXPECT_EQ(Model(c, model->weights().Clone()).fingerprint(), model->fingerprint());
}

TEST(WeightsTest, ModelDirRoundTrip) {
  const std::string dir = TestTempPath("model");
  auto model = testing::SensitiveModel(testing::SmallConfig(), 5);
  ASSERT_TRUE(WriteModelDir(*model, dir).ok());
  absl::StatusOr<std::shared_ptr<const Model>> loaded = LoadModelDir(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->fingerprint(), model->fingerprint());
  EXPECT_EQ((*loaded)->config(), model->config());
}

TEST(WeightsTest, EveryTruncationIsAnErrorNeverACrash) {
  ModelConfig c = testing::SmallConfig();
  std::string bytes = Weights::Random(c, 1).ToSafetensors();
  for (size_t len = 0; len < bytes.size(); len += 1 + len / 7) {
    absl::StatusOr<Weights> w = Weights::FromSafetensors(c, bytes.substr(0, len), "cut.safetensors");
    ASSERT_FALSE(w.ok()) << len;
    EXPECT_NE(w.status().message().find("cut.safetensors"), std::string::npos);
  }
}

TEST(WeightsTest, LyingHeadersNameTheTensor) {
  ModelConfig c = testing::SmallConfig();
  Weights w = Weights::Random(c, 1);
  // Wrong shape for one tensor.
  std::vector<Float32Tensor> tensors;
  std::vector<float> wrong(10, 0.5f);
  for (const WeightSpec& s : w.specs()) {
    if (s.name == "layers.1.mlp.w2") {
      tensors.push_back({s.name, {2, 5}, absl::MakeConstSpan(wrong)});
    } else {
      tensors.push_back({s.name, s.shape, absl::MakeConstSpan(w.data().data() + s.offset, s.size)});
    }
  }
  absl::StatusOr<Weights> bad = Weights::FromSafetensors(c, WriteSafetensors(tensors), "m.st");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("layers.1.mlp.w2"), std::string::npos) << bad.status();
  EXPECT_NE(bad.status().message().find("shape"), std::string::npos);
  // Missing tensor.
  tensors.clear();
  for (const WeightSpec& s : w.specs()) {
    if (s.name == "norm_f") continue;
    tensors.push_back({s.name, s.shape, absl::MakeConstSpan(w.data().data() + s.offset, s.size)});
  }
  bad = Weights::FromSafetensors(c, WriteSafetensors(tensors), "m.st");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("norm_f"), std::string::npos) << bad.status();
  // Offsets beyond the data.
  std::string bytes = w.ToSafetensors();
  std::string lie = bytes;
  size_t at = lie.find("\"data_offsets\":[0,");
  ASSERT_NE(at, std::string::npos);
  lie.replace(at, 18, "\"data_offsets\":[9,");
  EXPECT_FALSE(Weights::FromSafetensors(c, lie, "m.st").ok());
  // A huge header length.
  lie = bytes;
  lie[7] = 0x7f;
  EXPECT_FALSE(Weights::FromSafetensors(c, lie, "m.st").ok());
}

TEST(WeightsTest, NonFiniteWeightsAreRejected) {
  ModelConfig c = testing::SmallConfig();
  Weights w = Weights::Random(c, 1);
  w.mutable_data()[w.specs()[3].offset + 11] = NAN;
  absl::StatusOr<Weights> bad = Weights::FromSafetensors(c, w.ToSafetensors(), "nan.st");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(w.specs()[3].name), std::string::npos) << bad.status();
}

TEST(WeightsTest, LoadModelErrorsNameTheFile) {
  const std::string dir = TestTempDir("empty");
  absl::StatusOr<std::shared_ptr<const Model>> m = LoadModel(dir, 0);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("config.json"), std::string::npos) << m.status();
  EXPECT_FALSE(LoadModel("random:huge", 0).ok());
  absl::StatusOr<std::shared_ptr<const Model>> tiny = LoadModel("random:tiny", 1);
  ASSERT_TRUE(tiny.ok());
  EXPECT_EQ((*tiny)->config(), *ModelConfig::Preset("tiny"));
}

}  // namespace
}  // namespace hecate
