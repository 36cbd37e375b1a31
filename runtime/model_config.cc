#include "runtime/model_config.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace hecate {
namespace {

// Sizes beyond these are certainly a mistake (or an attack on the allocator).
constexpr int kMaxWidth = 1 << 16;
constexpr int kMaxLayers = 1024;
constexpr int kMaxWindow = 1 << 20;
constexpr int kMaxLevels = 16;
constexpr int kMaxPeriod = 1 << 24;

absl::Status ReadInt(const nlohmann::json& j, const char* key, int* out) {
  auto it = j.find(key);
  if (it == j.end()) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: missing \"", key, "\""));
  }
  if (!it->is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: \"", key, "\" must be an integer, got ", it->dump()));
  }
  int64_t v = it->get<int64_t>();
  if (v < 0 || v > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: \"", key, "\" out of range: ", v));
  }
  *out = static_cast<int>(v);
  return absl::OkStatus();
}

}  // namespace

float ModelConfig::memory_scale() const {
  return levels() > 2 ? static_cast<float>(1.0 / std::sqrt(static_cast<double>(levels())))
                      : 1.0f;
}

absl::Status ModelConfig::Validate() const {
  auto bad = [](auto... parts) { return absl::InvalidArgumentError(absl::StrCat("model config: ", parts...)); };
  if (vocab_size != 256) return bad("vocab_size must be 256 (tokens are bytes), got ", vocab_size);
  if (d_model <= 0 || d_model > kMaxWidth) return bad("d_model must be in 1..", kMaxWidth, ", got ", d_model);
  if (n_layers <= 0 || n_layers > kMaxLayers) return bad("n_layers must be in 1..", kMaxLayers, ", got ", n_layers);
  if (n_heads <= 0 || d_model % n_heads != 0) {
    return bad("n_heads (", n_heads, ") must be positive and divide d_model (", d_model, ")");
  }
  if (head_dim() % 2 != 0) return bad("head width d_model/n_heads = ", head_dim(), " must be even (RoPE rotates halves)");
  if (window <= 0 || window > kMaxWindow) return bad("window must be in 1..", kMaxWindow, ", got ", window);
  if (d_ff <= 0 || d_ff > 4 * kMaxWidth) return bad("d_ff must be in 1..", 4 * kMaxWidth, ", got ", d_ff);
  if (periods.empty() || levels() > kMaxLevels) return bad("periods must list 1..", kMaxLevels, " levels");
  for (int j = 0; j < levels(); ++j) {
    if (periods[j] <= 0 || periods[j] > kMaxPeriod) {
      return bad("period ", j, " must be in 1..", kMaxPeriod, ", got ", periods[j]);
    }
    if (j > 0 && (periods[j] <= periods[j - 1] || periods[j] % periods[j - 1] != 0)) {
      return bad("periods must increase and each divide the next, got (",
                 absl::StrJoin(periods, ","), ")");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ModelConfig::FromJson(absl::string_view json_text) {
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("config.json: not a JSON object");
  }
  auto type = j.find("model_type");
  if (type == j.end() || !type->is_string()) {
    return absl::InvalidArgumentError("config.json: missing string \"model_type\"");
  }
  if (type->get<std::string>() != "hecate") {
    return absl::InvalidArgumentError(
        absl::StrCat("config.json: unknown model_type \"", type->get<std::string>(),
                     "\" (expected \"hecate\")"));
  }
  ModelConfig c;
  for (auto [key, field] : {std::pair{"vocab_size", &c.vocab_size}, {"d_model", &c.d_model},
                            {"n_layers", &c.n_layers}, {"n_heads", &c.n_heads},
                            {"window", &c.window}, {"d_ff", &c.d_ff}}) {
    HECATE_RETURN_IF_ERROR(ReadInt(j, key, field));
  }
  auto periods = j.find("periods");
  if (periods == j.end() || !periods->is_array()) {
    return absl::InvalidArgumentError("config.json: missing array \"periods\"");
  }
  if (periods->size() > static_cast<size_t>(kMaxLevels)) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: more than ", kMaxLevels, " periods"));
  }
  for (const auto& p : *periods) {
    if (!p.is_number_integer() || p.get<int64_t>() <= 0 || p.get<int64_t>() > kMaxPeriod) {
      return absl::InvalidArgumentError(
          absl::StrCat("config.json: periods must be integers in 1..", kMaxPeriod, ", got ", p.dump()));
    }
    c.periods.push_back(static_cast<int>(p.get<int64_t>()));
  }
  HECATE_RETURN_IF_ERROR(c.Validate());
  return c;
}

std::string ModelConfig::ToJson() const {
  nlohmann::ordered_json j;
  j["model_type"] = "hecate";
  j["vocab_size"] = vocab_size;
  j["d_model"] = d_model;
  j["n_layers"] = n_layers;
  j["n_heads"] = n_heads;
  j["window"] = window;
  j["periods"] = periods;
  j["d_ff"] = d_ff;
  return j.dump(2) + "\n";
}

absl::StatusOr<ModelConfig> ModelConfig::Preset(absl::string_view name) {
  ModelConfig c;
  if (name == "tiny") {
    c.d_model = 256; c.n_layers = 4; c.n_heads = 4; c.window = 128; c.periods = {1, 8}; c.d_ff = 704;
  } else if (name == "base") {
    c.d_model = 1024; c.n_layers = 12; c.n_heads = 8; c.window = 512; c.periods = {1, 8, 64, 512}; c.d_ff = 2752;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown model preset \"", name, "\" (known: tiny, base)"));
  }
  return c;
}

std::string ModelConfig::Summary() const {
  return absl::StrFormat("D=%d L=%d H=%d W=%d P=(%s) F=%d", d_model, n_layers, n_heads, window,
                         absl::StrJoin(periods, ","), d_ff);
}

bool ModelConfig::operator==(const ModelConfig& o) const {
  return vocab_size == o.vocab_size && d_model == o.d_model && n_layers == o.n_layers &&
         n_heads == o.n_heads && window == o.window && periods == o.periods && d_ff == o.d_ff;
}

}  // namespace hecate
