// The pacer against simulated machines (a step's time: the decode work plus
// what its input tokens cost, with seeded noise), an uploader always
// waiting: input adds on average at most the share of a decode step and no
// step more than the larger of the share and one token's cost; where a
// token is cheap every step carries the largest size that fits; input is
// never starved, not even after a step stalled by something else.
#include "server/prefill_pacer.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

constexpr double kDecode = 1e-3;  // a decode step's seconds
constexpr double kNoise = 0.1;    // each step's time within +-10%

struct Paced {
  double mean_added = 0;  // per step with decode work, of the true cost
  double p99_added = 0;
  double worst_added = 0;  // a trial of a size may cost up to twice the cap
  double tokens_per_step = 0;
  double steps_with_input = 0;  // fraction
  int longest_wait = 0;         // steps in a row without input, after warm-up
};

// `steps` steps of decode work with input always waiting; `cost(n)` is what
// n input tokens add to a step; `stall_at` (if >= 0) takes 50 decode steps.
Paced Simulate(PrefillPacer& pacer, const std::function<double(size_t)>& cost, int steps,
               std::mt19937_64& rng, int stall_at = -1) {
  std::uniform_real_distribution<double> noise(1 - kNoise, 1 + kNoise);
  constexpr int kWarmUp = 1000;  // sizes get measured, the decode step again
  Paced run;
  int with_input = 0, wait = 0;
  double added = 0, tokens = 0;
  std::vector<double> each;
  for (int i = 0; i < kWarmUp + steps; ++i) {
    const size_t budget = pacer.Budget(true);
    const double extra = budget == 0 ? 0 : cost(budget);
    double seconds = (kDecode + extra) * noise(rng);
    if (stall_at >= 0 && i == kWarmUp + stall_at) seconds = 50 * kDecode;
    pacer.Observe(true, budget, seconds);
    if (i < kWarmUp) continue;
    added += extra;
    each.push_back(extra);
    tokens += static_cast<double>(budget);
    run.worst_added = std::max(run.worst_added, extra);
    if (budget > 0) {
      ++with_input;
      wait = 0;
    } else {
      run.longest_wait = std::max(run.longest_wait, ++wait);
    }
  }
  run.mean_added = added / steps;
  std::sort(each.begin(), each.end());
  run.p99_added = each[each.size() * 99 / 100];
  run.tokens_per_step = tokens / steps;
  run.steps_with_input = static_cast<double>(with_input) / steps;
  return run;
}

class PrefillPacerTest : public ::testing::Test {
 protected:
  std::mt19937_64 rng_{TestSeed()};
};

TEST_F(PrefillPacerTest, ATokenDearerThanTheShareWaitsItsTurn) {
  // Two cores, one other session: an input token costs most of a decode
  // step (its session's state), more tokens a little more each.
  std::uniform_real_distribution<double> one(0.7, 1.2);
  const double first = one(rng_) * kDecode;
  auto cost = [&](size_t n) { return first + 0.1 * kDecode * static_cast<double>(n - 1); };
  PrefillPacer pacer(0.5, 2048, 8192);
  const Paced run = Simulate(pacer, cost, 20000, rng_);
  std::printf(
      "one token %.2f decode steps: mean added %.3f, p99 %.3f, worst %.3f, input in %.0f%% of "
      "steps, %.2f tokens a step, longest wait %d steps\n",
      first / kDecode, run.mean_added / kDecode, run.p99_added / kDecode, run.worst_added / kDecode,
      100 * run.steps_with_input, run.tokens_per_step, run.longest_wait);
  // The share on average (the noise lets an estimate err a little).
  EXPECT_LE(run.mean_added, 0.5 * kDecode * (1 + kNoise));
  EXPECT_GE(run.mean_added, 0.5 * kDecode * (1 - 2 * kNoise)) << "the share was not used";
  // No step past one token's cost but a trial of the next size.
  const double cap = std::max(0.5 * kDecode, cost(1));
  EXPECT_LE(run.p99_added, cap * (1 + 2 * kNoise));
  EXPECT_LE(run.worst_added, 2 * cap * (1 + 2 * kNoise));
  EXPECT_LT(run.steps_with_input, 0.75);
  EXPECT_LE(run.longest_wait, 4);
}

TEST_F(PrefillPacerTest, CheapTokensRideInEveryStep) {
  // CUDA: an input token rides in the batched decode, a few % each.
  std::uniform_real_distribution<double> per(0.005, 0.02);
  const double per_token = per(rng_) * kDecode;
  auto cost = [&](size_t n) { return per_token * static_cast<double>(n); };
  PrefillPacer pacer(0.5, 2048, 8192);
  const Paced run = Simulate(pacer, cost, 20000, rng_);
  // The largest power of two that fits half a decode step, and the largest
  // that fits it with room for the noise (a size whose cost is at the share
  // has its estimate over it about half the time).
  size_t fits = 1, roomy = 1;
  while (cost(2 * fits) <= 0.5 * kDecode) fits *= 2;
  while (cost(2 * roomy) <= 0.5 * kDecode * (1 - 2 * kNoise)) roomy *= 2;
  std::printf(
      "a token %.4f decode steps: %.1f tokens a step (largest fitting size %zu), "
      "input in %.1f%% of steps, added p99 %.3f, worst %.3f\n",
      per_token / kDecode, run.tokens_per_step, fits, 100 * run.steps_with_input,
      run.p99_added / kDecode, run.worst_added / kDecode);
  // The decode work alone (one step in 256) and trials leave a few without.
  EXPECT_GE(run.steps_with_input, 0.99);
  EXPECT_GE(run.tokens_per_step, 0.6 * static_cast<double>(roomy));
  // A size is chosen by its estimate, which the noise moves; a trial of the
  // next size may cost up to twice the cap.
  EXPECT_LE(run.p99_added, 0.5 * kDecode * (1 + 3 * kNoise));
  EXPECT_LE(run.worst_added, 2 * 0.5 * kDecode * (1 + 3 * kNoise));
}

TEST_F(PrefillPacerTest, ANewUploadBesideCheapDecodeWorkReachesItsSizeQuickly) {
  std::uniform_real_distribution<double> per(0.001, 0.004);
  const double per_token = per(rng_) * kDecode;
  size_t roomy = 1;
  while (per_token * static_cast<double>(2 * roomy) <= 0.5 * kDecode * (1 - 2 * kNoise)) {
    roomy *= 2;
  }
  std::uniform_real_distribution<double> noise(1 - kNoise, 1 + kNoise);
  PrefillPacer pacer(0.5, 2048, 8192);
  int steps = 0;
  for (; steps < 2000; ++steps) {
    const size_t budget = pacer.Budget(true);
    if (budget >= roomy) break;
    pacer.Observe(true, budget, (kDecode + per_token * static_cast<double>(budget)) * noise(rng_));
  }
  std::printf("a token %.4f decode steps: %zu tokens a step after %d steps\n", per_token / kDecode,
              roomy, steps);
  // One step to measure the decode work, one for a token, then one per
  // doubling: log2(roomy) + 2 or so (one trial in 256 steps, as sizes were
  // once tried, took over 2000).
  EXPECT_LE(steps, 24);
}

TEST_F(PrefillPacerTest, AStalledStepDoesNotStarveInput) {
  auto cost = [](size_t n) { return 0.8 * kDecode + 0.1 * kDecode * static_cast<double>(n); };
  PrefillPacer pacer(0.5, 2048, 8192);
  const Paced run = Simulate(pacer, cost, 2000, rng_, /*stall_at=*/100);
  EXPECT_LE(run.longest_wait, 6) << "input waited that many steps after one stalled step";
  EXPECT_GT(run.steps_with_input, 0.3);
}

TEST_F(PrefillPacerTest, WithoutDecodeWorkTheStepIsInputAlone) {
  PrefillPacer pacer(0.5, 2048, 8192);
  EXPECT_EQ(pacer.Budget(false), 8192u);
  // Nothing measured yet: a step of decode work alone, then one token.
  EXPECT_EQ(pacer.Budget(true), 0u);
  pacer.Observe(true, 0, kDecode);
  EXPECT_EQ(pacer.Budget(true), 1u);
  EXPECT_EQ(pacer.Budget(false), 8192u);
}

}  // namespace
}  // namespace hecate
