// Parity of decoding through the slow levels' rings (state_ring.h) with the
// CPU reference: sessions at different pulse ids decode one token per step
// for long enough that every slow level fires several times (periods below,
// at and above the ring's 16 slots: the fire with a known-zero G, the fire
// that consumes a ring of 15, full rings folded into G, then fires that read
// G), while every reader and writer of the canonical state cuts in
// mid-ring: Download (checkpoint, export, offload), Upload of a mid-period
// state, Copy into a spare and back (rollback snapshot, fork), prefill
// chunks between decode steps. Logits at every step and every state tensor
// (G included) match the CPU's within 1e-4; the device scratch is NaN-
// poisoned before each step. Each of the ring's folds is needed: without
// the fold in Download, the reset in Upload, the tail in Copy or the fold
// before a prefill step, G or the logits after it differ.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/cuda/state_ring.h"
#include "gtest/gtest.h"
#include "kernels/testing/cuda_test_util.h"
#include "runtime/model_state.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kTolerance = 1e-4;

using States = std::vector<std::unique_ptr<BackendState>>;

struct Worst {
  double logits = 0, state = 0, g = 0;
};

// Every tensor of the CUDA state (downloaded: folded) against the CPU's.
void ExpectSameState(Backend& cpu, Backend& cuda, BackendState& cpu_state,
                     BackendState& gpu_state, const std::string& where, Worst& worst) {
  const ModelConfig& config = cpu.model().config();
  ModelState got(config), want(config);
  std::fill(got.data().begin(), got.data().end(), kNaN);
  ASSERT_TRUE(cuda.Download(gpu_state, got).ok()) << where;
  ASSERT_TRUE(cpu.Download(cpu_state, want).ok()) << where;
  ASSERT_EQ(got.pulse_id(), want.pulse_id()) << where;
  for (const StateTensor& t : want.layout().tensors()) {
    const double err = testing::RelativeError(got.tensor(t), want.tensor(t));
    EXPECT_LT(err, kTolerance) << where << " " << t.name;
    worst.state = std::max(worst.state, err);
    if (t.kind == StateKind::kErrorBuffer) worst.g = std::max(worst.g, err);
  }
}

struct RingCase {
  const char* name;
  ModelConfig config;
};

// Periods 4 (< 16 slots), 16 (= slots) and 64 (> slots) beside the delta rule.
ModelConfig SmallRingConfig() {
  ModelConfig c = testing::SmallConfig();
  c.periods = {1, 4, 16, 64};
  return c;
}

// Head width 128 (two float4 columns per lane, the base config's shape),
// periods 8 (< 16 slots) and 32 (> slots).
ModelConfig WideRingConfig() {
  ModelConfig c = testing::WideHeadsConfig();
  c.periods = {1, 8, 32};
  return c;
}

class DecodeRingTest : public ::testing::TestWithParam<RingCase> {};

TEST_P(DecodeRingTest, MatchesCpuThroughEveryStateReader) {
  HECATE_SKIP_WITHOUT_CUDA();
  const RingCase& c = GetParam();
  std::mt19937_64 rng = testing::FreshRng(c.name);
  const uint64_t seed = rng();
  ASSERT_EQ(StateRing::Slots(), 16) << "HECATE_DECODE_DENSE_G is set: nothing to test";
  std::shared_ptr<const Model> model = testing::SensitiveModel(c.config, seed);
  std::unique_ptr<Backend> cpu = MakeCpuBackend(model);
  CudaBackendOptions options;
  options.poison_scratch = true;
  options.max_batch = 8;
  absl::StatusOr<std::unique_ptr<Backend>> made = MakeCudaBackend(model, options);
  ASSERT_TRUE(made.ok()) << made.status();
  Backend& cuda = **made;

  // Six sessions at pulse ids 0, 29, 58, ...: different fire and ring phases.
  constexpr int kSessions = 6;
  States cpu_states, gpu_states;
  for (int b = 0; b < kSessions; ++b) {
    cpu_states.push_back(*cpu->NewState());
    gpu_states.push_back(*cuda.NewState());
    if (b == 0) continue;
    const auto prefix = testing::RandomTokens(29 * b, seed + 10 + b);
    ASSERT_TRUE(cpu->Forward(*cpu_states[b], prefix, LogitsMode::kNone, nullptr).ok());
    ASSERT_TRUE(cuda.Forward(*gpu_states[b], prefix, LogitsMode::kNone, nullptr).ok());
  }
  auto spare = cuda.NewState();
  ASSERT_TRUE(spare.ok());
  ModelState cpu_snapshot(c.config);

  Worst worst;
  constexpr int kSteps = 200;  // more than 3 periods of 64
  for (int step = 0; step < kSteps; ++step) {
    const std::string where = absl::StrCat(c.name, " step ", step);
    // Mid-ring checkpoints of two sessions (the fold in Download).
    if (step == 37 || step == 150) {
      ExpectSameState(*cpu, cuda, *cpu_states[0], *gpu_states[0], where + " download", worst);
      ExpectSameState(*cpu, cuda, *cpu_states[4], *gpu_states[4], where + " download", worst);
    }
    // A restored state at a mid-period pulse id, G not zero (the reset in
    // Upload: the old session's ring entries must not count).
    if (step == 61) {
      ModelState restored(c.config);
      testing::FillRandom(restored, seed + 2);
      for (float& v : restored.data()) v *= 0.05f;
      restored.set_pulse_id(1000003 + rng() % 1000);
      ASSERT_TRUE(cpu->Upload(restored, *cpu_states[1]).ok());
      ASSERT_TRUE(cuda.Upload(restored, *gpu_states[1]).ok());
    }
    // A rollback snapshot mid-ring: a device copy into the spare, then the
    // session goes on, then comes back to the copy (the tail in Copy).
    if (step == 75) {
      ASSERT_TRUE(cuda.Copy(*gpu_states[2], **spare).ok());
      ASSERT_TRUE(cpu->Download(*cpu_states[2], cpu_snapshot).ok());
    }
    if (step == 90) {
      ASSERT_TRUE(cuda.Copy(**spare, *gpu_states[2]).ok());
      ASSERT_TRUE(cpu->Upload(cpu_snapshot, *cpu_states[2]).ok());
    }
    // Prefill between decode steps (the fold before a longer step): a
    // chunk on the span-wise path, one on the row path.
    if (step == 45 || step == 120) {
      const auto chunk = testing::RandomTokens(step == 45 ? 40 : 5, seed + 50 + step);
      std::vector<float> cpu_logits, gpu_logits(3, kNaN);
      ASSERT_TRUE(cpu->Forward(*cpu_states[3], chunk, LogitsMode::kLast, &cpu_logits).ok());
      ASSERT_TRUE(cuda.Forward(*gpu_states[3], chunk, LogitsMode::kLast, &gpu_logits).ok());
      const double err = testing::RelativeError(gpu_logits, cpu_logits);
      EXPECT_LT(err, kTolerance) << where << " prefill";
      worst.logits = std::max(worst.logits, err);
    }
    // One decode step for every session; session 5 every third step only,
    // alone (one-session steps, B = 1).
    const auto tokens = testing::RandomTokens(kSessions, seed + 1000 + step);
    std::vector<std::vector<float>> cpu_logits(kSessions), gpu_logits(kSessions);
    std::vector<ForwardItem> items;
    for (int b = 0; b < kSessions; ++b) {
      if (b == 5 && step % 3 != 0) continue;
      gpu_logits[b].assign(3, kNaN);
      ForwardItem item;
      item.state = gpu_states[b].get();
      item.tokens = absl::MakeConstSpan(tokens).subspan(b, 1);
      item.mode = LogitsMode::kLast;
      item.logits = &gpu_logits[b];
      ASSERT_TRUE(cpu->Forward(*cpu_states[b], item.tokens, item.mode, &cpu_logits[b]).ok());
      if (b == 5) {
        ASSERT_TRUE(cuda.Forward(*item.state, item.tokens, item.mode, item.logits).ok());
      } else {
        items.push_back(item);
      }
    }
    const absl::Status s = cuda.ForwardBatch(absl::MakeSpan(items));
    ASSERT_TRUE(s.ok()) << where << ": " << s;
    for (int b = 0; b < kSessions; ++b) {
      if (cpu_logits[b].empty()) continue;
      const double err = testing::RelativeError(gpu_logits[b], cpu_logits[b]);
      EXPECT_LT(err, kTolerance) << where << " session " << b;
      worst.logits = std::max(worst.logits, err);
    }
    if (::testing::Test::HasFailure()) break;
  }
  // The spare still holds the snapshot (copied back, not moved): it downloads
  // to the CPU's snapshot.
  {
    ModelState got(c.config);
    ASSERT_TRUE(cuda.Download(**spare, got).ok());
    EXPECT_LT(testing::RelativeError(got.data(), cpu_snapshot.data()), kTolerance) << "spare";
  }
  for (int b = 0; b < kSessions; ++b) {
    ExpectSameState(*cpu, cuda, *cpu_states[b], *gpu_states[b],
                    absl::StrCat(c.name, " final session ", b), worst);
  }
  std::printf("PARITY %-16s logits %.3g  state %.3g  G %.3g  tolerance 1e-04\n", c.name,
              worst.logits, worst.state, worst.g);
}

INSTANTIATE_TEST_SUITE_P(Configs, DecodeRingTest,
                         ::testing::Values(RingCase{"ring_small", SmallRingConfig()},
                                           RingCase{"ring_wide", WideRingConfig()}),
                         [](const ::testing::TestParamInfo<RingCase>& info) {
                           return std::string(info.param.name);
                         });

// The ring and the dense path give the same states: a downloaded state after
// a decode stream through the rings equals one through the dense G (the
// same sums in the same order; 1e-6 allows for contraction differences).
TEST(DecodeRingTest, RingEqualsDenseErrorBuffer) {
  HECATE_SKIP_WITHOUT_CUDA();
  const uint64_t seed = testing::FreshRng("ring_vs_dense")();
  const ModelConfig config = SmallRingConfig();
  std::shared_ptr<const Model> model = testing::SensitiveModel(config, seed);
  CudaBackendOptions ring_options, dense_options;
  dense_options.decode_ring = false;
  auto ring = MakeCudaBackend(model, ring_options);
  auto dense = MakeCudaBackend(model, dense_options);
  ASSERT_TRUE(ring.ok() && dense.ok());
  auto a = (*ring)->NewState();
  auto b = (*dense)->NewState();
  ASSERT_TRUE(a.ok() && b.ok());
  const auto tokens = testing::RandomTokens(150, seed + 1);
  std::vector<float> la, lb;
  double worst_logits = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const auto one = absl::MakeConstSpan(tokens).subspan(t, 1);
    ASSERT_TRUE((*ring)->Forward(**a, one, LogitsMode::kLast, &la).ok());
    ASSERT_TRUE((*dense)->Forward(**b, one, LogitsMode::kLast, &lb).ok());
    worst_logits = std::max(worst_logits, testing::RelativeError(la, lb));
  }
  ModelState ga(config), gb(config);
  ASSERT_TRUE((*ring)->Download(**a, ga).ok());
  ASSERT_TRUE((*dense)->Download(**b, gb).ok());
  const double err = testing::RelativeError(ga.data(), gb.data());
  EXPECT_LT(err, 1e-6);
  EXPECT_LT(worst_logits, 1e-6);
  std::printf("ring vs dense: logits %.3g  state %.3g\n", worst_logits, err);
}

}  // namespace
}  // namespace hecate
