// Parity of the fused stages (fused.h) with docs/MODEL.md computed in double
// (fused_reference.h, itself proven against the CPU backend by
// model_reference_test.cc), on fresh random inputs of awkward sizes, in the
// layouts backends/cuda/forward_engine.cc uses. Outputs are
// NaN-poisoned before each call, and the memory around them (row gaps, plane
// gaps, trailing guards) must keep the poison.
#include "kernels/fused/fused.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/fused/fused_reference.h"
#include "kernels/testing/cuda_test_util.h"
#include "kernels/testing/parity_util.h"
#include "kernels/testing/validation_util.h"

namespace hecate {
namespace {

using testing::BitwiseEqual;
using testing::NormwiseNear;
using testing::Poisoned;
using testing::StillPoisoned;
using testing::ToDevice;
using testing::ToDouble;
using testing::ToHost;

constexpr size_t kGuard = 67;  // floats after every output; odd on purpose

// As backends/cuda/step_workspace.cc: planes start 256-byte aligned.
size_t AlignUp(size_t n) { return (n + 63) / 64 * 64; }

absl::Span<const float> Part(const std::vector<float>& v, size_t at, size_t n) {
  return absl::MakeConstSpan(v).subspan(at, n);
}

void Sync() { ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess); }

struct RowCase {
  int rows, width;
};

std::string RowName(const ::testing::TestParamInfo<RowCase>& info) {
  return absl::StrCat("R", info.param.rows, "_W", info.param.width);
}

// Base decode rows, a prefill-sized block, the small config's width, widths
// that are odd or not a multiple of the block size.
const RowCase kRowCases[] = {{1, 1024}, {37, 72}, {5, 1000}, {256, 1024}, {3, 5}, {2048, 256}};

class EmbedGatherParityTest : public ::testing::TestWithParam<RowCase> {};

TEST_P(EmbedGatherParityTest, CopiesTheTokensRows) {
  HECATE_SKIP_WITHOUT_CUDA();
  const RowCase c = GetParam();
  std::mt19937_64 rng = testing::FreshRng("EmbedGatherParity");
  std::vector<uint8_t> tokens(c.rows);
  for (uint8_t& t : tokens) t = uint8_t(rng() & 0xFF);
  tokens.front() = 255;  // both ends of the vocabulary
  tokens.back() = 0;
  const std::vector<float> embed = testing::RandomNormal(rng, 256 * size_t(c.width));
  DeviceBuffer<uint8_t> d_tokens = ToDevice(tokens);
  DeviceBuffer<float> d_embed = ToDevice(embed);
  const size_t n = size_t(c.rows) * c.width;
  DeviceBuffer<float> out = Poisoned(n + kGuard);
  ASSERT_FALSE(HasFailure());

  const absl::Status s = EmbedGather(
      EmbedGatherParams{c.rows, c.width, d_tokens.data(), d_embed.data(), out.data()}, nullptr);
  ASSERT_TRUE(s.ok()) << s;
  Sync();
  const std::vector<float> got = ToHost(out);
  std::vector<float> want(n);
  for (int r = 0; r < c.rows; ++r) {
    for (int i = 0; i < c.width; ++i) {
      want[size_t(r) * c.width + i] = embed[size_t(tokens[r]) * c.width + i];
    }
  }
  EXPECT_TRUE(BitwiseEqual("out", Part(got, 0, n), want));  // a gather is a copy
  EXPECT_TRUE(StillPoisoned("guard after out", Part(got, n, kGuard)));
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, EmbedGatherParityTest, ::testing::ValuesIn(kRowCases),
                         RowName);

class RmsNormParityTest : public ::testing::TestWithParam<RowCase> {};

// Compact rows (both norms of a layer), then the final norm's strided input:
// the last token of each of `rows` sessions of 3 tokens.
TEST_P(RmsNormParityTest, MatchesDefinitionCompactAndStrided) {
  HECATE_SKIP_WITHOUT_CUDA();
  const RowCase c = GetParam();
  std::mt19937_64 rng = testing::FreshRng("RmsNormParity");
  for (int tokens : {1, 3}) {
    SCOPED_TRACE(absl::StrCat("tokens per session ", tokens));
    const size_t in_stride = size_t(tokens) * c.width;
    std::vector<float> x = testing::RandomNormal(rng, size_t(c.rows) * in_stride, 3.0f);
    std::vector<float> gain = testing::RandomNormal(rng, c.width, 0.1f);
    for (float& g : gain) g += 1.0f;
    DeviceBuffer<float> d_x = ToDevice(x);
    DeviceBuffer<float> d_gain = ToDevice(gain);
    const size_t n = size_t(c.rows) * c.width;
    DeviceBuffer<float> out = Poisoned(n + kGuard);
    ASSERT_FALSE(HasFailure());

    const size_t first = size_t(tokens - 1) * c.width;  // last token of session 0
    const absl::Status s = RmsNorm(RmsNormParams{c.rows, c.width, d_x.data() + first,
                                                 in_stride, d_gain.data(), out.data()},
                                   nullptr);
    ASSERT_TRUE(s.ok()) << s;
    Sync();
    const std::vector<double> xd = ToDouble(x);
    const std::vector<double> want =
        reference::RmsNorm(c.rows, c.width, xd.data() + first, in_stride, gain.data());
    const std::vector<float> got = ToHost(out);
    EXPECT_TRUE(NormwiseNear(absl::StrCat("out, tokens ", tokens), Part(got, 0, n),
                             absl::MakeConstSpan(want), 1e-4));
    EXPECT_TRUE(StillPoisoned("guard after out", Part(got, n, kGuard)));
  }
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, RmsNormParityTest, ::testing::ValuesIn(kRowCases),
                         RowName);

struct PrepCase {
  int batch, tokens, heads, dim, levels, delta_level, stride_pad;
};

class MixerPrepParityTest : public ::testing::TestWithParam<PrepCase> {};

TEST_P(MixerPrepParityTest, MatchesDefinitionAtEveryPulse) {
  HECATE_SKIP_WITHOUT_CUDA();
  const PrepCase c = GetParam();
  std::mt19937_64 rng = testing::FreshRng("MixerPrepParity");
  const int rows = c.batch * c.tokens, width = c.heads * c.dim;
  const int n_gates = 3 * c.levels * c.heads;
  const size_t proj_stride = MixerPrepProjCols(c.heads, c.dim, c.levels) + c.stride_pad;
  const size_t n = size_t(rows) * width;
  const size_t plane = AlignUp(n + 1);  // a gap after every plane

  // Positions: the first token, a window's end, the billions, 2^40.
  const uint64_t candidates[] = {0, 127, 5000000011ull, (uint64_t(1) << 40) + 3, 1};
  std::vector<uint64_t> pulse(c.batch);
  for (int b = 0; b < c.batch; ++b) pulse[b] = candidates[b % 5];
  std::vector<double> inv_freq(c.dim / 2);
  for (int i = 0; i < c.dim / 2; ++i) inv_freq[i] = std::pow(10000.0, -2.0 * i / c.dim);
  const std::vector<float> proj = testing::RandomNormal(rng, size_t(rows) * proj_stride, 1.5f);
  const std::vector<float> bias = testing::RandomUniform(rng, n_gates, -3.0f, 3.0f);

  DeviceBuffer<uint64_t> d_pulse = ToDevice(pulse);
  DeviceBuffer<double> d_freq = ToDevice(inv_freq);
  DeviceBuffer<float> d_proj = ToDevice(proj);
  DeviceBuffer<float> d_bias = ToDevice(bias);
  DeviceBuffer<float> act = Poisoned(6 * plane + kGuard);
  DeviceBuffer<float> gates = Poisoned(size_t(rows) * n_gates + kGuard);
  DeviceBuffer<float> alpha1 = Poisoned(size_t(rows) * c.heads + kGuard);
  DeviceBuffer<float> theta1 = Poisoned(size_t(rows) * c.heads + kGuard);
  ASSERT_FALSE(HasFailure());

  MixerPrepParams p;
  p.batch = c.batch;
  p.tokens = c.tokens;
  p.heads = c.heads;
  p.dim = c.dim;
  p.levels = c.levels;
  p.delta_level = c.delta_level;
  p.pulse = d_pulse.data();
  p.inv_freq = d_freq.data();
  p.proj = d_proj.data();
  p.proj_stride = proj_stride;
  p.gate_bias = d_bias.data();
  p.act = act.data();
  p.plane = plane;
  p.gates = gates.data();
  p.alpha1 = alpha1.data();
  p.theta1 = theta1.data();
  const absl::Status s = MixerPrep(p, nullptr);
  ASSERT_TRUE(s.ok()) << s;
  Sync();

  const std::vector<double> proj_d = ToDouble(proj);
  const reference::MixerPrepResult want =
      reference::MixerPrep(c.batch, c.tokens, c.heads, c.dim, c.levels, pulse,
                           proj_d.data(), proj_stride, bias.data());
  const std::vector<float> got_act = ToHost(act);
  const char* names[] = {"qa (RoPE)", "ka (RoPE)", "va", "mq", "mk", "mv"};
  const std::vector<double>* wants[] = {&want.qa, &want.ka, &want.va,
                                        &want.mq, &want.mk, &want.mv};
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(NormwiseNear(names[i], Part(got_act, i * plane, n),
                             absl::MakeConstSpan(*wants[i]), 1e-4));
    EXPECT_TRUE(StillPoisoned(absl::StrCat("gap after plane ", names[i]),
                              Part(got_act, i * plane + n, plane - n)));
  }
  EXPECT_TRUE(StillPoisoned("guard after act", Part(got_act, 6 * plane, kGuard)));
  const std::vector<float> got_gates = ToHost(gates);
  const size_t ng = size_t(rows) * n_gates;
  EXPECT_TRUE(NormwiseNear("gates", Part(got_gates, 0, ng), absl::MakeConstSpan(want.gates),
                           1e-4));
  EXPECT_TRUE(StillPoisoned("guard after gates", Part(got_gates, ng, kGuard)));

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
  EXPECT_TRUE(NormwiseNear("alpha1", Part(got_alpha, 0, nh), absl::MakeConstSpan(want_alpha),
                           1e-4));
  EXPECT_TRUE(NormwiseNear("theta1", Part(got_theta, 0, nh), absl::MakeConstSpan(want_theta),
                           1e-4));
  EXPECT_TRUE(StillPoisoned("guard after alpha1", Part(got_alpha, nh, kGuard)));
  EXPECT_TRUE(StillPoisoned("guard after theta1", Part(got_theta, nh, kGuard)));
}

INSTANTIATE_TEST_SUITE_P(
    AwkwardSizes, MixerPrepParityTest,
    // Base decode and a base chunk; the small test config (d = 24, 3
    // levels); more heads than the kernel's 8 warps with d = 10 and the
    // period-1 level second; d = 2 without a period-1 level; the tiny
    // config; d = 160 (more than one pass per lane).
    ::testing::Values(PrepCase{1, 1, 8, 128, 4, 0, 0}, PrepCase{2, 3, 8, 128, 4, 0, 0},
                      PrepCase{3, 5, 3, 24, 3, 0, 0}, PrepCase{2, 7, 9, 10, 2, 1, 3},
                      PrepCase{5, 1, 1, 2, 1, -1, 1}, PrepCase{1, 33, 4, 64, 2, 0, 0},
                      PrepCase{2, 2, 2, 160, 2, -1, 0}),
    [](const ::testing::TestParamInfo<PrepCase>& info) {
      const PrepCase& c = info.param;
      const std::string delta =
          c.delta_level < 0 ? "none" : absl::StrCat(c.delta_level);
      return absl::StrCat("B", c.batch, "_T", c.tokens, "_H", c.heads, "_d", c.dim, "_L",
                          c.levels, "_delta", delta, "_pad", c.stride_pad);
    });

struct MagCase {
  int rows, width, levels;
};

class MagGateParityTest : public ::testing::TestWithParam<MagCase> {};

TEST_P(MagGateParityTest, GatesAttentionInPlace) {
  HECATE_SKIP_WITHOUT_CUDA();
  const MagCase c = GetParam();
  std::mt19937_64 rng = testing::FreshRng("MagGateParity");
  const size_t n = size_t(c.rows) * c.width, plane = AlignUp(n + 1);
  const float scale = c.levels > 2 ? float(1.0 / std::sqrt(double(c.levels))) : 1.0f;
  std::vector<float> attn = testing::RandomNormal(rng, n + kGuard);
  for (size_t i = n; i < attn.size(); ++i) attn[i] = testing::PoisonValue();
  const std::vector<float> y = testing::RandomNormal(rng, c.levels * plane, 2.0f);
  DeviceBuffer<float> d_attn = ToDevice(attn);
  DeviceBuffer<float> d_y = ToDevice(y);
  ASSERT_FALSE(HasFailure());

  const absl::Status s = MagGate(
      MagGateParams{c.rows, c.width, c.levels, scale, d_attn.data(), d_y.data(), plane},
      nullptr);
  ASSERT_TRUE(s.ok()) << s;
  Sync();
  const std::vector<double> attn_d = ToDouble(attn), y_d = ToDouble(y);
  const std::vector<double> want =
      reference::MagGate(c.rows, c.width, c.levels, scale, attn_d.data(), y_d.data(), plane);
  const std::vector<float> got = ToHost(d_attn);
  EXPECT_TRUE(NormwiseNear("attn", Part(got, 0, n), absl::MakeConstSpan(want), 1e-4));
  EXPECT_TRUE(StillPoisoned("guard after attn", Part(got, n, kGuard)));
  EXPECT_TRUE(BitwiseEqual("y (read only)", ToHost(d_y), y));
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, MagGateParityTest,
                         ::testing::Values(MagCase{1, 1024, 4}, MagCase{37, 72, 3},
                                           MagCase{256, 1024, 4}, MagCase{5, 7, 1},
                                           MagCase{3, 1000, 2}, MagCase{2048, 1024, 4}),
                         [](const ::testing::TestParamInfo<MagCase>& info) {
                           return absl::StrCat("R", info.param.rows, "_W", info.param.width,
                                               "_L", info.param.levels);
                         });

class SwiGluParityTest : public ::testing::TestWithParam<RowCase> {};  // width = F

TEST_P(SwiGluParityTest, FirstHalfOfEachRowBecomesTheProduct) {
  HECATE_SKIP_WITHOUT_CUDA();
  const RowCase c = GetParam();
  const int ff = c.width;
  std::mt19937_64 rng = testing::FreshRng("SwiGluParity");
  const size_t n = size_t(c.rows) * 2 * ff;
  std::vector<float> h = testing::RandomNormal(rng, n + kGuard, 2.0f);
  for (size_t i = n; i < h.size(); ++i) h[i] = testing::PoisonValue();
  DeviceBuffer<float> d_h = ToDevice(h);
  ASSERT_FALSE(HasFailure());

  const absl::Status s = SwiGlu(SwiGluParams{c.rows, ff, d_h.data()}, nullptr);
  ASSERT_TRUE(s.ok()) << s;
  Sync();
  const std::vector<double> h_d = ToDouble(h);
  const std::vector<double> want = reference::SwiGlu(c.rows, ff, h_d.data());
  const std::vector<float> got = ToHost(d_h);
  std::vector<float> got_first, got_second, orig_second;
  for (int r = 0; r < c.rows; ++r) {
    const size_t row = size_t(r) * 2 * ff;
    got_first.insert(got_first.end(), got.begin() + row, got.begin() + row + ff);
    got_second.insert(got_second.end(), got.begin() + row + ff, got.begin() + row + 2 * ff);
    orig_second.insert(orig_second.end(), h.begin() + row + ff, h.begin() + row + 2 * ff);
  }
  EXPECT_TRUE(NormwiseNear("silu(u W1) * (u W3)", got_first, want, 1e-4));
  EXPECT_TRUE(BitwiseEqual("second half of each row (u W3)", got_second, orig_second));
  EXPECT_TRUE(StillPoisoned("guard after h", Part(got, n, kGuard)));
}

// Base F = 2752 at decode and prefill rows, the small config's F = 100, an
// odd F.
INSTANTIATE_TEST_SUITE_P(AwkwardSizes, SwiGluParityTest,
                         ::testing::Values(RowCase{1, 2752}, RowCase{37, 100},
                                           RowCase{256, 2752}, RowCase{3, 7},
                                           RowCase{2048, 704}),
                         RowName);

TEST(FusedValidationTest, RejectsBadShapesAndPointers) {
  // Validation never touches the device, so this runs without a GPU. The
  // fused kernels use scalar loads, so no alignment is required (nor
  // checked) here.
  alignas(16) float buf[64] = {};
  const uint8_t tokens[4] = {};
  const uint64_t pulse[2] = {};
  const double freq[2] = {};
  auto expect_invalid = [](const absl::Status& s, const char* what) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << what << ": " << s;
  };

  using testing::ExpectEditsRejected;
  ExpectEditsRejected<EmbedGatherParams>(
      EmbedGatherParams{2, 4, tokens, buf, buf + 32},
      [](const EmbedGatherParams& p) { return EmbedGather(p, nullptr); },
      {
          {"EmbedGather rows 0", [](EmbedGatherParams& p) { p.rows = 0; }},
          {"EmbedGather width -1", [](EmbedGatherParams& p) { p.width = -1; }},
          {"EmbedGather null tokens", [](EmbedGatherParams& p) { p.tokens = nullptr; }},
          {"EmbedGather null embed", [](EmbedGatherParams& p) { p.embed = nullptr; }},
          {"EmbedGather null out", [](EmbedGatherParams& p) { p.out = nullptr; }},
      });

  ExpectEditsRejected<RmsNormParams>(
      RmsNormParams{2, 8, buf, 8, buf, buf + 32},
      [](const RmsNormParams& p) { return RmsNorm(p, nullptr); },
      {
          {"RmsNorm rows 0", [](RmsNormParams& p) { p.rows = 0; }},
          {"RmsNorm width 0", [](RmsNormParams& p) { p.width = 0; }},
          {"RmsNorm in_stride < width", [](RmsNormParams& p) { p.in_stride = 7; }},
          {"RmsNorm null in", [](RmsNormParams& p) { p.in = nullptr; }},
          {"RmsNorm null gain", [](RmsNormParams& p) { p.gain = nullptr; }},
          {"RmsNorm null out", [](RmsNormParams& p) { p.out = nullptr; }},
      });

  MixerPrepParams mg;
  mg.batch = 2;
  mg.tokens = 1;
  mg.heads = 1;
  mg.dim = 4;
  mg.levels = 2;
  mg.delta_level = 0;
  mg.pulse = pulse;
  mg.inv_freq = freq;
  mg.proj = buf;
  mg.proj_stride = 6 * 4 + 3 * 2;
  mg.gate_bias = buf;
  mg.act = buf;
  mg.plane = 8;
  mg.gates = buf;
  mg.alpha1 = buf;
  mg.theta1 = buf;
  ExpectEditsRejected<MixerPrepParams>(
      mg, [](const MixerPrepParams& p) { return MixerPrep(p, nullptr); },
      {
          {"MixerPrep batch 0", [](MixerPrepParams& p) { p.batch = 0; }},
          {"MixerPrep tokens -3", [](MixerPrepParams& p) { p.tokens = -3; }},
          {"MixerPrep heads 0", [](MixerPrepParams& p) { p.heads = 0; }},
          {"MixerPrep levels 0", [](MixerPrepParams& p) { p.levels = 0; }},
          {"MixerPrep odd dim", [](MixerPrepParams& p) { p.dim = 5; }},
          {"MixerPrep dim 0", [](MixerPrepParams& p) { p.dim = 0; }},
          {"MixerPrep delta_level -2", [](MixerPrepParams& p) { p.delta_level = -2; }},
          {"MixerPrep delta_level == levels", [](MixerPrepParams& p) { p.delta_level = 2; }},
          {"MixerPrep proj_stride one short", [](MixerPrepParams& p) { p.proj_stride -= 1; }},
          {"MixerPrep plane < rows * width", [](MixerPrepParams& p) { p.plane = 7; }},
          {"MixerPrep null pulse", [](MixerPrepParams& p) { p.pulse = nullptr; }},
          {"MixerPrep null inv_freq", [](MixerPrepParams& p) { p.inv_freq = nullptr; }},
          {"MixerPrep null proj", [](MixerPrepParams& p) { p.proj = nullptr; }},
          {"MixerPrep null gate_bias", [](MixerPrepParams& p) { p.gate_bias = nullptr; }},
          {"MixerPrep null act", [](MixerPrepParams& p) { p.act = nullptr; }},
          {"MixerPrep null gates", [](MixerPrepParams& p) { p.gates = nullptr; }},
          {"MixerPrep null alpha1", [](MixerPrepParams& p) { p.alpha1 = nullptr; }},
          {"MixerPrep null theta1", [](MixerPrepParams& p) { p.theta1 = nullptr; }},
      });

  ExpectEditsRejected<MagGateParams>(
      MagGateParams{2, 4, 2, 1.0f, buf, buf + 16, 8},
      [](const MagGateParams& p) { return MagGate(p, nullptr); },
      {
          {"MagGate rows 0", [](MagGateParams& p) { p.rows = 0; }},
          {"MagGate width 0", [](MagGateParams& p) { p.width = 0; }},
          {"MagGate levels 0", [](MagGateParams& p) { p.levels = 0; }},
          {"MagGate plane < rows * width", [](MagGateParams& p) { p.plane = 7; }},
          {"MagGate null attn", [](MagGateParams& p) { p.attn = nullptr; }},
          {"MagGate null y", [](MagGateParams& p) { p.y = nullptr; }},
      });

  expect_invalid(SwiGlu(SwiGluParams{0, 4, buf}, nullptr), "SwiGlu rows 0");
  expect_invalid(SwiGlu(SwiGluParams{2, 0, buf}, nullptr), "SwiGlu ff 0");
  expect_invalid(SwiGlu(SwiGluParams{2, 4, nullptr}, nullptr), "SwiGlu null h");
}

}  // namespace
}  // namespace hecate
