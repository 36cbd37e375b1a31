// Compares the CPU reference backend with golden files written by the
// Python oracle (tests/oracle/hecate_ref.py): logits of every token and every
// final state tensor, norm-wise relative error under the case's tolerance
// (docs/MODEL.md section 6: 1e-4).
//
//   golden_compare CASE_DIR...          compare; prints a table; exit 1 on failure
//   golden_compare --export DIR SEED    write a model folder + input.bin that the
//                                       oracle's run-model mode can evaluate
//
// A case folder holds config.json, model.safetensors, input.bin,
// expected.safetensors (`logits` [T, V] and state tensors by canonical name)
// and optionally meta.json ({"tolerance": ..., "start_pulse_id": ...}). A
// reference tensor that is all zeros must be matched exactly.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/cpu/cpu_backend.h"
#include "nlohmann/json.hpp"
#include "runtime/safetensors.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Returns true when the case passes.
bool CompareCase(const std::string& dir) {
  absl::StatusOr<std::shared_ptr<const Model>> model = LoadModelDir(dir);
  if (!model.ok()) {
    std::printf("%-40s ERROR %s\n", dir.c_str(), std::string(model.status().message()).c_str());
    return false;
  }
  double tolerance = 1e-4;
  uint64_t start_pulse = 0;
  if (std::string meta = ReadAll(dir + "/meta.json"); !meta.empty()) {
    auto j = nlohmann::json::parse(meta, nullptr, false);
    if (j.is_object() && j.contains("tolerance")) tolerance = j["tolerance"].get<double>();
    if (j.is_object() && j.contains("start_pulse_id")) {
      start_pulse = j["start_pulse_id"].get<uint64_t>();
    }
  }
  const std::string input = ReadAll(dir + "/input.bin");
  const std::string expected_bytes = ReadAll(dir + "/expected.safetensors");
  absl::StatusOr<SafetensorsView> expected = ParseSafetensors(expected_bytes, dir + "/expected.safetensors");
  if (!expected.ok() || input.empty()) {
    std::printf("%-40s ERROR missing or bad input.bin / expected.safetensors\n", dir.c_str());
    return false;
  }
  // Stream in random chunks: the oracle's token loop must match any split.
  auto backend = MakeCpuBackend(*model);
  auto state = *backend->NewState();
  // A zero state at the case's first pulse id (goldens may start late, where
  // float32 RoPE angles would be visibly wrong).
  ModelState start((*model)->config());
  start.set_pulse_id(start_pulse);
  (void)backend->Upload(start, *state);
  std::vector<float> logits, chunk_logits;
  std::mt19937_64 rng(std::random_device{}());
  const auto* tokens = reinterpret_cast<const uint8_t*>(input.data());
  for (size_t at = 0; at < input.size();) {
    const size_t len = std::min<size_t>(input.size() - at, 1 + rng() % 200);
    absl::Status s = backend->Forward(*state, absl::MakeConstSpan(tokens + at, len),
                                      LogitsMode::kAll, &chunk_logits);
    if (!s.ok()) {
      std::printf("%-40s ERROR %s\n", dir.c_str(), std::string(s.message()).c_str());
      return false;
    }
    logits.insert(logits.end(), chunk_logits.begin(), chunk_logits.end());
    at += len;
  }
  ModelState final_state((*model)->config());
  (void)backend->Download(*state, final_state);

  bool ok = true;
  double worst = 0.0;
  std::string worst_name;
  auto check = [&](const std::string& name, absl::Span<const float> actual) {
    auto it = expected->find(name);
    if (it == expected->end()) {
      std::printf("%-40s MISSING expected tensor %s\n", dir.c_str(), name.c_str());
      ok = false;
      return;
    }
    absl::StatusOr<std::vector<float>> want = ToFloat32(it->second, name);
    const double err = want.ok() ? testing::RelativeError(actual, *want) : INFINITY;
    if (!(err < tolerance)) {
      std::printf("%-40s FAIL %s relative error %.3g >= %.1g\n", dir.c_str(), name.c_str(), err,
                  tolerance);
      ok = false;
    }
    if (err > worst) {
      worst = err;
      worst_name = name;
    }
  };
  check("logits", logits);
  for (const StateTensor& t : final_state.layout().tensors()) check(t.name, final_state.tensor(t));
  std::printf("%-40s %s tokens=%zu worst=%.3g (%s) tol=%.0e\n", dir.c_str(), ok ? "PASS" : "FAIL",
              input.size(), worst, worst_name.c_str(), tolerance);
  return ok;
}

int Export(const std::string& dir, uint64_t seed) {
  auto model = testing::SensitiveModel(testing::SmallConfig(), seed);
  if (absl::Status s = WriteModelDir(*model, dir); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::vector<uint8_t> tokens = testing::RandomTokens(600, seed + 1);
  std::ofstream(dir + "/input.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(tokens.data()), tokens.size());
  return 0;
}

}  // namespace
}  // namespace hecate

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--export") {
    return hecate::Export(argv[2], std::strtoull(argv[3], nullptr, 10));
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: golden_compare CASE_DIR... | --export DIR SEED\n");
    return 2;
  }
  int failed = 0;
  for (int i = 1; i < argc; ++i) failed += !hecate::CompareCase(argv[i]);
  std::printf("%d cases, %d failed\n", argc - 1, failed);
  return failed == 0 ? 0 : 1;
}
