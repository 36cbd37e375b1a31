#include "kernels/swa_decode/swa_decode.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/cuda_test_util.h"

namespace hecate {
namespace {

using testing::RelativeError;

struct Case {
  int batch, heads, dim, window;
};

class SwaDecodeParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(SwaDecodeParityTest, MatchesDefinitionForEverySplit) {
  HECATE_SKIP_WITHOUT_CUDA();
  const Case c = GetParam();
  std::mt19937_64 rng = testing::FreshRng("SwaDecodeParity");
  const size_t ring = size_t(c.heads) * c.window * c.dim;
  const size_t hd = size_t(c.heads) * c.dim;
  // Session buffer: lead, keys ring, values ring, guard.
  const size_t k_offset = 8, v_offset = k_offset + ring, guard = 32;
  const size_t stride = v_offset + ring + guard;

  // Pulse ids: first token, a partial window, the last partial one, exactly
  // full, wrapped, and one in the billions.
  const uint64_t candidates[] = {0,
                                 uint64_t(c.window / 3),
                                 uint64_t(c.window - 2 > 0 ? c.window - 2 : 0),
                                 uint64_t(c.window - 1),
                                 uint64_t(c.window) + 5,
                                 5000000011ull};
  for (int splits : {1, 2, 4, 8}) {
    std::vector<uint64_t> pulse(c.batch);
    for (int b = 0; b < c.batch; ++b) pulse[b] = candidates[(b + splits) % 6];
    std::vector<float> host_states = testing::RandomNormal(rng, stride * c.batch);
    std::vector<float> hq = testing::RandomNormal(rng, c.batch * hd, 0.5f);
    std::vector<float> hk = testing::RandomNormal(rng, c.batch * hd);
    std::vector<float> hv = testing::RandomNormal(rng, c.batch * hd);

    auto states = DeviceBuffer<float>::Create(host_states.size());
    auto ptrs = DeviceBuffer<float*>::Create(c.batch);
    auto dpulse = DeviceBuffer<uint64_t>::Create(c.batch);
    auto q = DeviceBuffer<float>::Create(c.batch * hd);
    auto k = DeviceBuffer<float>::Create(c.batch * hd);
    auto v = DeviceBuffer<float>::Create(c.batch * hd);
    auto out = DeviceBuffer<float>::Create(c.batch * hd);
    ASSERT_TRUE(states.ok() && ptrs.ok() && dpulse.ok() && q.ok() && k.ok() &&
                v.ok() && out.ok());
    ASSERT_TRUE(states->CopyFromHost(host_states).ok());
    const std::vector<int> perm = testing::ShuffledSlots(c.batch, rng);
    ASSERT_TRUE(ptrs->CopyFromHost(testing::SlotBases(states->data(), perm, stride)).ok());
    ASSERT_TRUE(dpulse->CopyFromHost(pulse).ok());
    ASSERT_TRUE(q->CopyFromHost(hq).ok());
    ASSERT_TRUE(k->CopyFromHost(hk).ok());
    ASSERT_TRUE(v->CopyFromHost(hv).ok());
    ASSERT_TRUE(out->Fill(0xFF).ok());

    SwaDecodeParams p;
    p.batch = c.batch;
    p.heads = c.heads;
    p.dim = c.dim;
    p.window = c.window;
    p.states = ptrs->data();
    p.k_offset = k_offset;
    p.v_offset = v_offset;
    p.pulse = dpulse->data();
    p.q = q->data();
    p.k = k->data();
    p.v = v->data();
    p.out = out->data();
    p.scale = 1.0f / std::sqrt(float(c.dim));
    p.splits = splits;
    // As a programmatic dependent (no kernel before it here: it must run as
    // usual); the engine's decode graph chains it after the q/k/v GEMV.
    p.programmatic = splits >= 4;
    ASSERT_TRUE(SwaDecode(p, nullptr).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

    // Reference: apply the ring update on the host, then attend in double.
    std::vector<float> want_states = host_states;
    std::vector<double> want_out(c.batch * hd);
    for (int b = 0; b < c.batch; ++b) {
      float* base = want_states.data() + perm[b] * stride;
      const int slot = int(pulse[b] % uint64_t(c.window));
      const int valid = int(std::min<uint64_t>(c.window, pulse[b] + 1));
      for (int h = 0; h < c.heads; ++h) {
        float* rk = base + k_offset + size_t(h) * c.window * c.dim;
        float* rv = base + v_offset + size_t(h) * c.window * c.dim;
        const size_t at = (size_t(b) * c.heads + h) * c.dim;
        std::copy(&hk[at], &hk[at] + c.dim, rk + size_t(slot) * c.dim);
        std::copy(&hv[at], &hv[at] + c.dim, rv + size_t(slot) * c.dim);
        std::vector<double> score(valid);
        double mx = -1e300;
        for (int s = 0; s < valid; ++s) {
          double dot = 0;
          for (int i = 0; i < c.dim; ++i) dot += double(hq[at + i]) * rk[s * c.dim + i];
          score[s] = dot / std::sqrt(double(c.dim));
          mx = std::max(mx, score[s]);
        }
        double sum = 0;
        for (int s = 0; s < valid; ++s) sum += (score[s] = std::exp(score[s] - mx));
        for (int i = 0; i < c.dim; ++i) {
          double a = 0;
          for (int s = 0; s < valid; ++s) a += score[s] * rv[s * c.dim + i];
          want_out[at + i] = a / sum;
        }
      }
    }
    std::vector<float> got_out(c.batch * hd);
    ASSERT_TRUE(out->CopyToHost(absl::MakeSpan(got_out)).ok());
    const double err = RelativeError(got_out, want_out);
    std::printf("splits %d: rel err %.3g\n", splits, err);
    EXPECT_LT(err, 1e-5) << "splits " << splits;
    std::vector<float> got_states(host_states.size());
    ASSERT_TRUE(states->CopyToHost(absl::MakeSpan(got_states)).ok());
    EXPECT_TRUE(got_states == want_states)
        << "ring update (or untouched regions) differ, splits " << splits;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AwkwardSizes, SwaDecodeParityTest,
    ::testing::Values(Case{1, 1, 4, 1}, Case{3, 2, 64, 37}, Case{5, 3, 128, 128},
                      Case{7, 2, 96, 300}, Case{2, 1, 256, 64},
                      Case{9, 8, 128, 512}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return "B" + std::to_string(info.param.batch) + "_H" +
             std::to_string(info.param.heads) + "_d" +
             std::to_string(info.param.dim) + "_W" +
             std::to_string(info.param.window);
    });

TEST(SwaDecodeValidationTest, RejectsBadShapesAndPointers) {
  alignas(16) float buf[64] = {};
  float* state_ptr = buf;
  uint64_t pulse = 0;
  SwaDecodeParams good;
  good.batch = good.heads = 1;
  good.dim = 4;
  good.window = 4;
  good.states = &state_ptr;
  good.pulse = &pulse;
  good.q = good.k = good.v = buf;
  good.out = buf + 16;
  good.scale = 0.5f;
  auto expect_invalid = [](const SwaDecodeParams& p, const char* what) {
    EXPECT_EQ(SwaDecode(p, nullptr).code(), absl::StatusCode::kInvalidArgument)
        << what;
  };
  SwaDecodeParams p = good;
  p.window = 0;
  expect_invalid(p, "window 0");
  p = good;
  p.dim = 10;
  expect_invalid(p, "dim 10");
  p = good;
  p.splits = 3;
  expect_invalid(p, "splits 3");
  p = good;
  p.splits = 16;
  expect_invalid(p, "splits 16");
  p = good;
  p.scale = NAN;
  expect_invalid(p, "scale NaN");
  p = good;
  p.pulse = nullptr;
  expect_invalid(p, "null pulse");
  p = good;
  p.out = buf + 2;
  expect_invalid(p, "misaligned out");
  p = good;
  p.k_offset = 2;
  expect_invalid(p, "k_offset 2");
  p = good;
  p.v = good.out;  // aligned, and the very floats out writes
  const absl::Status overlap = SwaDecode(p, nullptr);
  EXPECT_EQ(overlap.code(), absl::StatusCode::kInvalidArgument) << overlap;
  EXPECT_NE(overlap.message().find("out overlaps v"), absl::string_view::npos) << overlap;
}

TEST(SwaDecodeSplitsTest, FillsTheMachineWithinLimits) {
  EXPECT_EQ(SwaDecodeSplits(1, 8, 512, 132), 8);
  EXPECT_EQ(SwaDecodeSplits(1, 8, 256, 132), 8);
  EXPECT_EQ(SwaDecodeSplits(16, 8, 512, 132), 4);
  EXPECT_EQ(SwaDecodeSplits(1024, 8, 512, 132), 1);
  EXPECT_EQ(SwaDecodeSplits(1, 1, 16, 132), 1);  // too few slots to split
}

}  // namespace
}  // namespace hecate
