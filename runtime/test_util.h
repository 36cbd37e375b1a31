// Helpers shared by runtime tests: random models and states, norm-wise
// relative error as docs/MODEL.md section 6 defines it.
#ifndef HECATE_RUNTIME_TEST_UTIL_H_
#define HECATE_RUNTIME_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "runtime/model.h"
#include "runtime/model_state.h"

namespace hecate::testing {

// A small config with every feature: 3 levels, odd head count, window
// smaller than typical chunks.
ModelConfig SmallConfig();

// Head width 128 (the base config's) in a model small enough for the CPU
// reference: the d = 128 paths of the CUDA kernels. Periods {1, 4, 32}.
ModelConfig WideHeadsConfig();

// A model whose weights make every branch matter (larger std than a fresh
// model, gate biases spread over (0, 1)): a wrong coefficient anywhere
// changes the logits measurably.
std::shared_ptr<const Model> SensitiveModel(const ModelConfig& config, uint64_t seed);

std::vector<uint8_t> RandomTokens(size_t n, uint64_t seed);

// |a - b| / |b| over whole tensors (Frobenius norms). NaN anywhere gives
// +infinity so it never passes a tolerance.
double RelativeError(absl::Span<const float> a, absl::Span<const float> b);

// Fills a state with random values and a pulse id (for format tests).
void FillRandom(ModelState& state, uint64_t seed);

}  // namespace hecate::testing

#endif  // HECATE_RUNTIME_TEST_UTIL_H_
