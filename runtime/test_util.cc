#include "runtime/test_util.h"

#include <cmath>
#include <limits>
#include <random>

#include "absl/strings/match.h"

namespace hecate::testing {

ModelConfig SmallConfig() {
  ModelConfig c;
  c.d_model = 72;
  c.n_layers = 2;
  c.n_heads = 3;
  c.window = 24;
  c.periods = {1, 4, 16};
  c.d_ff = 100;
  return c;
}

ModelConfig WideHeadsConfig() {
  ModelConfig c;
  c.d_model = 256;
  c.n_layers = 2;
  c.n_heads = 2;
  c.window = 96;
  c.periods = {1, 4, 32};
  c.d_ff = 192;
  return c;
}

std::shared_ptr<const Model> SensitiveModel(const ModelConfig& config, uint64_t seed) {
  Weights w = Weights::Random(config, seed);
  std::mt19937_64 rng(seed ^ 0x5eed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> bias(-3.0f, 3.0f);
  absl::Span<float> data = w.mutable_data();
  for (const WeightSpec& s : w.specs()) {
    float* p = data.data() + s.offset;
    if (absl::EndsWith(s.name, "norm1") || absl::EndsWith(s.name, "norm2") || s.name == "norm_f") {
      for (size_t i = 0; i < s.size; ++i) p[i] = 1.0f + 0.1f * normal(rng);
    } else if (absl::EndsWith(s.name, ".mem.bgate")) {
      for (size_t i = 0; i < s.size; ++i) p[i] = bias(rng);
    } else {
      const float fan_in = static_cast<float>(s.shape.size() == 2 ? s.shape[0] : 1);
      const float std = s.name == "embed" ? 1.0f : 1.0f / std::sqrt(fan_in);
      for (size_t i = 0; i < s.size; ++i) p[i] = std * normal(rng);
    }
  }
  return std::make_shared<const Model>(config, std::move(w));
}

std::vector<uint8_t> RandomTokens(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& t : out) t = static_cast<uint8_t>(rng() & 0xff);
  return out;
}

double RelativeError(absl::Span<const float> a, absl::Span<const float> b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double diff = 0.0, ref = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) {
      return std::numeric_limits<double>::infinity();
    }
    const double dv = static_cast<double>(a[i]) - b[i];
    diff += dv * dv;
    ref += static_cast<double>(b[i]) * b[i];
  }
  if (ref == 0.0) return diff == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff / ref);
}

void FillRandom(ModelState& state, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : state.data()) v = normal(rng);
  state.set_pulse_id(rng() % 1000000);
}

}  // namespace hecate::testing
