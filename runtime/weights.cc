#include "runtime/weights.h"

#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/safetensors.h"

namespace hecate {
namespace {

// MODEL.md section 5: gate biases of a fresh model, [alpha | theta | eta].
constexpr float kGateBias[3] = {3.0f, -4.6f, 2.2f};
constexpr float kInitStd = 0.02f;

bool IsNorm(const std::string& name) {
  return name == "norm_f" || absl::EndsWith(name, ".norm1") || absl::EndsWith(name, ".norm2");
}

}  // namespace

std::vector<WeightSpec> Weights::Specs(const ModelConfig& c) {
  const int64_t v = c.vocab_size, d = c.d_model, f = c.d_ff;
  const int64_t gates = 3 * static_cast<int64_t>(c.levels()) * c.n_heads;
  std::vector<WeightSpec> specs;
  size_t offset = 0;
  auto add = [&](std::string name, std::vector<int64_t> shape) {
    size_t size = 1;
    for (int64_t s : shape) size *= static_cast<size_t>(s);
    specs.push_back(WeightSpec{std::move(name), std::move(shape), offset, size});
    offset += size;
  };
  add("embed", {v, d});
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = absl::StrCat("layers.", l, ".");
    add(p + "norm1", {d});
    add(p + "attn.wqkv", {d, 3 * d});
    add(p + "mem.wqkv", {d, 3 * d});
    add(p + "mem.wgate", {d, gates});
    add(p + "mem.bgate", {gates});
    add(p + "wo", {d, d});
    add(p + "norm2", {d});
    add(p + "mlp.w1", {d, f});
    add(p + "mlp.w3", {d, f});
    add(p + "mlp.w2", {f, d});
  }
  add("norm_f", {d});
  return specs;
}

Weights::Weights(const ModelConfig& config) : config_(config), specs_(Specs(config)) {
  data_.assign(specs_.back().offset + specs_.back().size, 0.0f);
  BindPointers();
}

Weights::Weights(Weights&& o) noexcept
    : config_(std::move(o.config_)), specs_(std::move(o.specs_)), data_(std::move(o.data_)) {
  BindPointers();
}

Weights& Weights::operator=(Weights&& o) noexcept {
  config_ = std::move(o.config_);
  specs_ = std::move(o.specs_);
  data_ = std::move(o.data_);
  BindPointers();
  return *this;
}

Weights Weights::Clone() const {
  Weights copy(config_);
  copy.data_ = data_;
  copy.BindPointers();
  return copy;
}

const float* Weights::Find(absl::string_view name) const {
  for (const WeightSpec& s : specs_) {
    if (s.name == name) return data_.data() + s.offset;
  }
  return nullptr;
}

void Weights::BindPointers() {
  layers_.clear();
  if (data_.empty()) return;
  // Specs are in canonical order: embed, 10 tensors per layer, norm_f.
  const float* base = data_.data();
  embed_ = base + specs_[0].offset;
  for (int l = 0; l < config_.n_layers; ++l) {
    const WeightSpec* s = &specs_[1 + 10 * l];
    layers_.push_back(LayerWeights{base + s[0].offset, base + s[1].offset, base + s[2].offset,
                                   base + s[3].offset, base + s[4].offset, base + s[5].offset,
                                   base + s[6].offset, base + s[7].offset, base + s[8].offset,
                                   base + s[9].offset});
  }
  norm_f_ = base + specs_.back().offset;
}

Weights Weights::Random(const ModelConfig& config, uint64_t seed) {
  Weights w(config);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, kInitStd);
  const int gates_per_kind = config.levels() * config.n_heads;
  for (const WeightSpec& s : w.specs_) {
    float* p = w.data_.data() + s.offset;
    if (IsNorm(s.name)) {
      std::fill(p, p + s.size, 1.0f);
    } else if (absl::EndsWith(s.name, ".mem.bgate")) {
      for (size_t i = 0; i < s.size; ++i) p[i] = kGateBias[i / gates_per_kind];
    } else {
      for (size_t i = 0; i < s.size; ++i) p[i] = normal(rng);
    }
  }
  return w;
}

absl::StatusOr<Weights> Weights::FromSafetensors(const ModelConfig& config,
                                                 absl::string_view bytes,
                                                 absl::string_view source) {
  HECATE_ASSIGN_OR_RETURN(SafetensorsView view, ParseSafetensors(bytes, source));
  Weights w(config);
  for (const WeightSpec& s : w.specs_) {
    auto it = view.find(s.name);
    if (it == view.end()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": missing tensor ", s.name));
    }
    const SafetensorsEntry& e = it->second;
    if (e.dtype != "F32") {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": tensor ", s.name, " has dtype ", e.dtype, ", expected F32"));
    }
    if (e.shape != s.shape) {
      auto dims = [](const std::vector<int64_t>& v) {
        std::string out = "[";
        for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i ? ", " : "", v[i]);
        return out + "]";
      };
      return absl::InvalidArgumentError(absl::StrCat(source, ": tensor ", s.name, " has shape ",
                                                     dims(e.shape), ", config needs ", dims(s.shape)));
    }
    float* dst = w.data_.data() + s.offset;
    std::memcpy(dst, e.bytes.data(), s.size * sizeof(float));
    for (size_t i = 0; i < s.size; ++i) {
      if (!std::isfinite(dst[i])) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": tensor ", s.name,
                                                       " has a non-finite value at index ", i));
      }
    }
  }
  if (view.size() != w.specs_.size()) {
    for (const auto& [name, e] : view) {
      bool known = false;
      for (const WeightSpec& s : w.specs_) known |= s.name == name;
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": unexpected tensor ", name, " for config ", config.Summary()));
      }
    }
  }
  return w;
}

std::string Weights::ToSafetensors() const {
  std::vector<Float32Tensor> tensors;
  for (const WeightSpec& s : specs_) {
    tensors.push_back({s.name, s.shape, absl::MakeConstSpan(data_.data() + s.offset, s.size)});
  }
  return WriteSafetensors(tensors);
}

}  // namespace hecate
