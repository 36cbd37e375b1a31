// Parity of the qkv+gates projection with MixerPrep as its epilogue
// (gemv_prep.h) with docs/MODEL.md in double: the RMSNorm'd input times W
// in double, then kernels/fused's reference MixerPrep (fused_reference.h),
// on fresh random inputs (seed printed; HECATE_TEST_SEED replays): the base
// config's shape at 1 and 8 rows, the tiny config's, several tokens per
// session at large pulse ids, two heads per tile without a period-1 level.
// Outputs are NaN-poisoned; the gaps after each plane and the guards after
// every output keep the poison. The same with bf16 weights: against the
// reference of the same bf16-rounded weights (1e-5) and of the fp32 weights
// (issue 14's 3e-3). Then validation.
#include "kernels/gemv_decode/gemv_prep.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/fused/fused_kernels.h"
#include "kernels/fused/fused_reference.h"
#include "kernels/gemv_decode/bf16_weights.h"
#include "kernels/testing/cuda_test_util.h"
#include "kernels/testing/parity_util.h"

namespace hecate {
namespace {

using testing::NormwiseNear;
using testing::Poisoned;
using testing::StillPoisoned;
using testing::ToDevice;
using testing::ToHost;

constexpr double kTolerance = 1e-5;
constexpr double kBf16Budget = 3e-3;
constexpr size_t kGuard = 67;

absl::Span<const float> Part(const std::vector<float>& v, size_t at, size_t n) {
  return absl::MakeConstSpan(v).subspan(at, n);
}

struct PrepCase {
  int batch, tokens, heads, dim, levels, delta_level;
  bool norm;
};

std::string CaseName(const ::testing::TestParamInfo<PrepCase>& info) {
  const PrepCase& c = info.param;
  return absl::StrCat("B", c.batch, "_T", c.tokens, "_H", c.heads, "_d", c.dim, "_L", c.levels,
                      "_delta", c.delta_level < 0 ? std::string("none")
                                                  : absl::StrCat(c.delta_level),
                      c.norm ? "_norm" : "_plain");
}

// The projection of x (RMSNorm'd when norm) with W [k, ldw] in double, then
// the reference MixerPrep.
reference::MixerPrepResult Expected(const PrepCase& c, const std::vector<uint64_t>& pulse,
                                    const std::vector<float>& x, size_t x_stride,
                                    const std::vector<float>& gain, const std::vector<float>& w,
                                    int k, int n, size_t ldw, const std::vector<float>& bias) {
  const int rows = c.batch * c.tokens;
  std::vector<double> proj(size_t(rows) * n);
  for (int r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * x_stride;
    double sum = 0;
    for (int i = 0; i < k; ++i) sum += double(xr[i]) * xr[i];
    const double norm = 1.0 / std::sqrt(sum / k + 1e-6);
    std::vector<double> in(k);
    for (int i = 0; i < k; ++i) in[i] = c.norm ? xr[i] * norm * gain[i] : xr[i];
    for (int col = 0; col < n; ++col) {
      double acc = 0;
      for (int i = 0; i < k; ++i) acc += in[i] * w[size_t(i) * ldw + col];
      proj[size_t(r) * n + col] = acc;
    }
  }
  return reference::MixerPrep(c.batch, c.tokens, c.heads, c.dim, c.levels, pulse, proj.data(),
                              n, bias.data());
}

// One case with fp32 or bf16 weights; every output against the reference of
// the weights the kernel holds (bf16: the rounded ones) within kTolerance,
// and for bf16 also against the fp32 weights' reference within kBf16Budget.
void CheckPrep(const PrepCase& c, GemvWeights weights) {
  const bool bf16 = weights == GemvWeights::kBf16;
  std::mt19937_64 rng =
      testing::FreshRng(bf16 ? "GemvPrepParityTest bf16" : "GemvPrepParityTest");
  const int rows = c.batch * c.tokens, width = c.heads * c.dim;
  const int n_gates = 3 * c.levels * c.heads;
  const int k = width;  // the projection's input is the model width
  const int n = MixerPrepProjCols(c.heads, c.dim, c.levels);
  // bf16 rows are read 8 wide; n % 8 == 4 (two cases) leaves a half group.
  const size_t ldw = bf16 ? (n + 7) / 8 * 8 : n;
  const size_t x_stride = k + 5;
  const size_t plane = (size_t(rows) * width + 1 + 63) / 64 * 64;  // a gap after each

  const uint64_t candidates[] = {0, 511, 5000000011ull, (uint64_t(1) << 40) + 3, 7};
  std::vector<uint64_t> pulse(c.batch);
  for (int b = 0; b < c.batch; ++b) pulse[b] = candidates[(b + rng()) % 5];
  std::vector<double> inv_freq(c.dim / 2);
  for (int i = 0; i < c.dim / 2; ++i) inv_freq[i] = std::pow(10000.0, -2.0 * i / c.dim);
  const std::vector<float> x = testing::RandomNormal(rng, rows * x_stride, 1.0f);
  const std::vector<float> gain = testing::RandomUniform(rng, k, 0.5f, 1.5f);
  const std::vector<float> w =
      testing::RandomNormal(rng, size_t(k) * ldw, float(1.5 / std::sqrt(double(k))));
  const std::vector<float> held = bf16 ? RoundedToBf16(w) : w;
  const std::vector<float> bias = testing::RandomUniform(rng, n_gates, -3.0f, 3.0f);

  DeviceBuffer<uint64_t> d_pulse = ToDevice(pulse);
  DeviceBuffer<double> d_freq = ToDevice(inv_freq);
  DeviceBuffer<float> d_x = ToDevice(x), d_gain = ToDevice(gain), d_bias = ToDevice(bias);
  DeviceBuffer<float> d_w;
  DeviceBuffer<uint16_t> d_w16;
  if (bf16) {
    d_w16 = ToDevice(ToBf16(w));
  } else {
    d_w = ToDevice(w);
  }
  DeviceBuffer<float> act = Poisoned(6 * plane + kGuard);
  DeviceBuffer<float> gates = Poisoned(size_t(rows) * n_gates + kGuard);
  DeviceBuffer<float> alpha1 = Poisoned(size_t(rows) * c.heads + kGuard);
  DeviceBuffer<float> theta1 = Poisoned(size_t(rows) * c.heads + kGuard);
  ASSERT_FALSE(::testing::Test::HasFailure());

  GemvPrepParams p;
  p.gemv.rows = rows;
  p.gemv.n = n;
  p.gemv.k = k;
  p.gemv.prologue = c.norm ? GemvPrologue::kRmsNorm : GemvPrologue::kNone;
  p.gemv.x = d_x.data();
  p.gemv.x_stride = x_stride;
  p.gemv.gain = d_gain.data();
  p.gemv.weights = weights;
  p.gemv.w = d_w.data();  // null for bf16: must not be read
  p.gemv.w_bf16 = d_w16.data();
  p.gemv.ldw = ldw;
  p.gemv.programmatic = true;
  p.prep.batch = c.batch;
  p.prep.tokens = c.tokens;
  p.prep.heads = c.heads;
  p.prep.dim = c.dim;
  p.prep.levels = c.levels;
  p.prep.delta_level = c.delta_level;
  p.prep.pulse = d_pulse.data();
  p.prep.inv_freq = d_freq.data();
  p.prep.gate_bias = d_bias.data();
  p.prep.act = act.data();
  p.prep.plane = plane;
  p.prep.gates = gates.data();
  p.prep.alpha1 = alpha1.data();
  p.prep.theta1 = theta1.data();
  ASSERT_TRUE(GemvPrepSupports(p));
  const absl::Status s = GemvPrep(p, nullptr);
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  const reference::MixerPrepResult want =
      Expected(c, pulse, x, x_stride, gain, held, k, n, ldw, bias);

  const size_t count = size_t(rows) * width;
  const std::string tag = bf16 ? "bf16 " : "";  // run logs tell the modes apart
  const std::vector<float> got_act = ToHost(act);
  const char* names[] = {"qa (RoPE)", "ka (RoPE)", "va", "mq", "mk", "mv"};
  const std::vector<double>* wants[] = {&want.qa, &want.ka, &want.va,
                                        &want.mq, &want.mk, &want.mv};
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(NormwiseNear(tag + names[i], Part(got_act, i * plane, count),
                             absl::MakeConstSpan(*wants[i]), kTolerance));
    EXPECT_TRUE(StillPoisoned(absl::StrCat("gap after ", names[i]),
                              Part(got_act, i * plane + count, plane - count)));
  }
  EXPECT_TRUE(StillPoisoned("guard after act", Part(got_act, 6 * plane, kGuard)));
  const std::vector<float> got_gates = ToHost(gates);
  const size_t ng = size_t(rows) * n_gates;
  EXPECT_TRUE(NormwiseNear(tag + "gates", Part(got_gates, 0, ng),
                           absl::MakeConstSpan(want.gates), kTolerance));
  EXPECT_TRUE(StillPoisoned("guard after gates", Part(got_gates, ng, kGuard)));
  if (bf16) {
    const reference::MixerPrepResult fp32 =
        Expected(c, pulse, x, x_stride, gain, w, k, n, ldw, bias);
    const std::vector<double>* fp32_wants[] = {&fp32.qa, &fp32.ka, &fp32.va,
                                               &fp32.mq, &fp32.mk, &fp32.mv};
    for (int i = 0; i < 6; ++i) {
      EXPECT_TRUE(NormwiseNear(absl::StrCat(tag, names[i], " vs fp32 weights"),
                               Part(got_act, i * plane, count),
                               absl::MakeConstSpan(*fp32_wants[i]), kBf16Budget));
    }
    EXPECT_TRUE(NormwiseNear(tag + "gates vs fp32 weights", Part(got_gates, 0, ng),
                             absl::MakeConstSpan(fp32.gates), kBf16Budget));
  }
  const std::vector<float> got_alpha = ToHost(alpha1), got_theta = ToHost(theta1);
  const size_t nh = size_t(rows) * c.heads;
  if (c.delta_level < 0) {
    EXPECT_TRUE(StillPoisoned("alpha1 without a period-1 level", got_alpha));
    EXPECT_TRUE(StillPoisoned("theta1 without a period-1 level", got_theta));
    return;
  }
  std::vector<double> want_alpha(nh), want_theta(nh);
  for (int r = 0; r < rows; ++r) {
    for (int h = 0; h < c.heads; ++h) {
      const size_t at = size_t(r) * n_gates;
      want_alpha[r * c.heads + h] = want.gates[at + (0 * c.levels + c.delta_level) * c.heads + h];
      want_theta[r * c.heads + h] = want.gates[at + (1 * c.levels + c.delta_level) * c.heads + h];
    }
  }
  EXPECT_TRUE(NormwiseNear(tag + "alpha1", Part(got_alpha, 0, nh),
                           absl::MakeConstSpan(want_alpha), kTolerance));
  EXPECT_TRUE(NormwiseNear(tag + "theta1", Part(got_theta, 0, nh),
                           absl::MakeConstSpan(want_theta), kTolerance));
  EXPECT_TRUE(StillPoisoned("guard after alpha1", Part(got_alpha, nh, kGuard)));
  EXPECT_TRUE(StillPoisoned("guard after theta1", Part(got_theta, nh, kGuard)));
}

class GemvPrepParityTest : public ::testing::TestWithParam<PrepCase> {};

TEST_P(GemvPrepParityTest, MatchesProjectionThenMixerPrep) {
  HECATE_SKIP_WITHOUT_CUDA();
  CheckPrep(GetParam(), GemvWeights::kFp32);
}

TEST_P(GemvPrepParityTest, Bf16WeightsMatchTheirRoundedReference) {
  HECATE_SKIP_WITHOUT_CUDA();
  CheckPrep(GetParam(), GemvWeights::kBf16);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GemvPrepParityTest,
    // Base decode (1 and 8 sessions), the tiny config (d = 64: two heads a
    // tile), 3 tokens of one session with the period-1 level second, d = 32
    // without a period-1 level and without the norm.
    ::testing::Values(PrepCase{1, 1, 8, 128, 4, 0, true}, PrepCase{8, 1, 8, 128, 4, 0, true},
                      PrepCase{3, 1, 4, 64, 2, 0, true}, PrepCase{1, 3, 2, 128, 3, 1, true},
                      PrepCase{5, 1, 4, 32, 1, -1, false}),
    CaseName);

TEST(GemvPrepValidationTest, RejectsUnsupportedShapesBeforeLaunching) {
  alignas(16) static float w[64];
  GemvPrepParams p;
  p.gemv.rows = 1;
  p.gemv.n = 6 * 128 + 12;
  p.gemv.k = 128;
  p.gemv.w = w;
  p.gemv.ldw = p.gemv.n;
  p.prep.batch = 1;
  p.prep.tokens = 1;
  p.prep.heads = 1;
  p.prep.dim = 128;
  p.prep.levels = 4;
  p.prep.delta_level = 0;
  EXPECT_TRUE(GemvPrepSupports(p));
  // No pointers yet: named, nothing launched.
  EXPECT_EQ(GemvPrep(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  auto unsupported = [&](auto change) {
    GemvPrepParams q = p;
    change(q);
    return !GemvPrepSupports(q) &&
           GemvPrep(q, nullptr).code() == absl::StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(unsupported([](GemvPrepParams& q) { q.prep.dim = 96; }));     // 128 % 96
  EXPECT_TRUE(unsupported([](GemvPrepParams& q) { q.prep.heads = 3; q.prep.dim = 24; }));
  EXPECT_TRUE(unsupported([](GemvPrepParams& q) { q.gemv.n = 6 * 128; }));  // no gates
  EXPECT_TRUE(unsupported([](GemvPrepParams& q) { q.prep.batch = 2; }));    // rows
  EXPECT_TRUE(unsupported([](GemvPrepParams& q) { q.gemv.prologue = GemvPrologue::kSwiGlu; }));
  EXPECT_TRUE(unsupported([](GemvPrepParams& q) { q.prep.delta_level = 4; }));
  alignas(16) static uint16_t w16[64];
  GemvPrepParams b = p;  // n = 780: bf16 needs ldw = 784
  b.gemv.weights = GemvWeights::kBf16;
  b.gemv.w = nullptr;
  b.gemv.w_bf16 = w16;
  EXPECT_FALSE(GemvPrepSupports(b));
  b.gemv.ldw = 784;
  EXPECT_TRUE(GemvPrepSupports(b));
  b.gemv.w_bf16 = nullptr;
  EXPECT_FALSE(GemvPrepSupports(b));
}

}  // namespace
}  // namespace hecate
