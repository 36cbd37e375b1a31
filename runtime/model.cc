#include "runtime/model.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "base/status_macros.h"

namespace hecate {
namespace {

std::string Sha256Hex(const std::string& config_json, absl::Span<const float> weights) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, config_json.data(), config_json.size());
  EVP_DigestUpdate(ctx, weights.data(), weights.size() * sizeof(float));
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), len));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return std::move(buf).str();
}

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::InternalError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace

Model::Model(ModelConfig config, Weights weights)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      fingerprint_(Sha256Hex(config_.ToJson(), weights_.data())) {}

absl::StatusOr<std::shared_ptr<const Model>> LoadModelDir(absl::string_view dir) {
  const std::string config_path = absl::StrCat(dir, "/config.json");
  const std::string weights_path = absl::StrCat(dir, "/model.safetensors");
  HECATE_ASSIGN_OR_RETURN(std::string config_text, ReadFile(config_path));
  absl::StatusOr<ModelConfig> config = ModelConfig::FromJson(config_text);
  if (!config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", config.status().message()));
  }
  HECATE_ASSIGN_OR_RETURN(std::string bytes, ReadFile(weights_path));
  HECATE_ASSIGN_OR_RETURN(Weights weights, Weights::FromSafetensors(*config, bytes, weights_path));
  return std::make_shared<const Model>(*std::move(config), std::move(weights));
}

absl::Status WriteModelDir(const Model& model, absl::string_view dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::string(dir), ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create (", ec.message(), ")"));
  if (absl::Status s = WriteFile(absl::StrCat(dir, "/config.json"), model.config().ToJson());
      !s.ok()) {
    return s;
  }
  return WriteFile(absl::StrCat(dir, "/model.safetensors"), model.weights().ToSafetensors());
}

absl::StatusOr<std::shared_ptr<const Model>> LoadModel(absl::string_view spec, uint64_t seed) {
  if (absl::StartsWith(spec, "random:")) {
    HECATE_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::Preset(spec.substr(7)));
    Weights weights = Weights::Random(config, seed);
    return std::make_shared<const Model>(std::move(config), std::move(weights));
  }
  if (spec.empty()) return absl::InvalidArgumentError("empty model spec");
  return LoadModelDir(spec);
}

}  // namespace hecate
