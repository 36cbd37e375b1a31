// cuda_test_util.h: what every CUDA parity test needs.
//
// - HECATE_SKIP_WITHOUT_CUDA(): prints "SKIPPED: no CUDA device" and skips the
//   test when there is no GPU (CI), so the tests build and pass everywhere.
// - Fresh random inputs (never zeros), and relative error as docs/MODEL.md
//   section 6 defines it: ||a - b|| / ||b|| over the whole tensor, with NaN or
//   Inf anywhere in either giving +infinity (NaN never passes).
#ifndef HECATE_KERNELS_TESTING_CUDA_TEST_UTIL_H_
#define HECATE_KERNELS_TESTING_CUDA_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "kernels/device.h"

#define HECATE_SKIP_WITHOUT_CUDA()                         \
  do {                                                     \
    if (!::hecate::CudaDeviceAvailable()) {                \
      std::printf("SKIPPED: no CUDA device\n");            \
      GTEST_SKIP() << "no CUDA device";                    \
    }                                                      \
  } while (0)

namespace hecate {
namespace testing {

// A generator seeded from std::random_device, so each run draws new inputs;
// the seed is printed so a failure can be replayed: HECATE_TEST_SEED=<seed>
// in the environment seeds every generator of the run with it instead.
inline std::mt19937_64 FreshRng(const char* what) {
  const char* fixed = std::getenv("HECATE_TEST_SEED");
  const uint64_t seed =
      fixed != nullptr ? std::strtoull(fixed, nullptr, 10)
                       : (static_cast<uint64_t>(std::random_device{}()) << 32) ^
                             std::random_device{}();
  std::printf("[%s] seed %llu\n", what, static_cast<unsigned long long>(seed));
  return std::mt19937_64(seed);
}

// The first draw of FreshRng(what): one fresh seed per run, printed.
inline uint64_t FreshSeed(const char* what) { return FreshRng(what)(); }

// A random order of slots 0 .. n-1: session b's state goes to slot
// slots[b], so a kernel that ignored the table of state pointers and
// assumed sessions in order would fail.
inline std::vector<int> ShuffledSlots(int n, std::mt19937_64& rng) {
  std::vector<int> slots(n);
  for (int b = 0; b < n; ++b) slots[b] = b;
  std::shuffle(slots.begin(), slots.end(), rng);
  return slots;
}

// Each session's state base when slots are `stride` floats apart from
// `states` and a state starts `lead` floats into its slot: the host copy of
// the pointer table kernels take.
inline std::vector<float*> SlotBases(float* states, const std::vector<int>& slots,
                                     size_t stride, size_t lead = 0) {
  std::vector<float*> bases(slots.size());
  for (size_t b = 0; b < slots.size(); ++b) bases[b] = states + slots[b] * stride + lead;
  return bases;
}

inline std::vector<float> RandomNormal(std::mt19937_64& rng, size_t n,
                                       float stddev = 1.0f) {
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> out(n);
  for (float& x : out) x = dist(rng);
  return out;
}

inline std::vector<float> RandomUniform(std::mt19937_64& rng, size_t n,
                                        float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(n);
  for (float& x : out) x = dist(rng);
  return out;
}

// Normalises each consecutive run of `dim` values to unit L2 norm, as the
// model does for memory keys and queries.
inline void NormalizeRows(std::vector<float>& x, int dim) {
  for (size_t r = 0; r + dim <= x.size(); r += dim) {
    double sum = 0;
    for (int i = 0; i < dim; ++i) sum += double(x[r + i]) * x[r + i];
    const float inv = static_cast<float>(1.0 / std::sqrt(sum + 1e-6));
    for (int i = 0; i < dim; ++i) x[r + i] *= inv;
  }
}

// ||got - want|| / ||want||; +inf when sizes differ or any value is not
// finite (an unwritten NaN-poisoned output therefore always fails).
template <typename A, typename B>
double RelativeError(absl::Span<const A> got, absl::Span<const B> want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double diff = 0, ref = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (!std::isfinite(g) || !std::isfinite(w)) {
      return std::numeric_limits<double>::infinity();
    }
    diff += (g - w) * (g - w);
    ref += w * w;
  }
  if (ref == 0) return diff == 0 ? 0 : std::numeric_limits<double>::infinity();
  return std::sqrt(diff / ref);
}

template <typename A, typename B>
double RelativeError(const std::vector<A>& got, const std::vector<B>& want) {
  return RelativeError(absl::MakeConstSpan(got), absl::MakeConstSpan(want));
}

}  // namespace testing
}  // namespace hecate

#endif  // HECATE_KERNELS_TESTING_CUDA_TEST_UTIL_H_
