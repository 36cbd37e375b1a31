#include "kernels/gdr_decode/gdr_decode.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/cuda_test_util.h"

namespace hecate {
namespace {

using testing::RelativeError;

// The definition, token by token, in double.
void ReferenceStep(int heads, int dim, std::vector<double>& M,
                   const float* q, const float* k, const float* v,
                   const float* alpha, const float* theta, double* y) {
  for (int h = 0; h < heads; ++h) {
    double* m = M.data() + size_t(h) * dim * dim;
    const float* kh = k + h * dim;
    const float* qh = q + h * dim;
    for (int i = 0; i < dim * dim; ++i) m[i] *= alpha[h];
    for (int i = 0; i < dim; ++i) {
      double mk = 0;
      for (int j = 0; j < dim; ++j) mk += m[i * dim + j] * kh[j];
      const double e = mk - v[h * dim + i];
      for (int j = 0; j < dim; ++j) m[i * dim + j] -= double(theta[h]) * e * kh[j];
    }
    for (int i = 0; i < dim; ++i) {
      double acc = 0;
      for (int j = 0; j < dim; ++j) acc += m[i * dim + j] * qh[j];
      y[h * dim + i] = acc;
    }
  }
}

struct Case {
  int batch, heads, dim;
};

class GdrDecodeParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(GdrDecodeParityTest, MatchesDefinitionOverSteps) {
  HECATE_SKIP_WITHOUT_CUDA();
  const Case c = GetParam();
  std::mt19937_64 rng = testing::FreshRng("GdrDecodeParity");
  const size_t hdd = size_t(c.heads) * c.dim * c.dim;
  const size_t hd = size_t(c.heads) * c.dim;
  // Each session's buffer: a leading block (other layers' state), M, and a
  // trailing guard; the guards must come back untouched.
  const size_t offset = 12, guard = 64;
  const size_t stride = offset + hdd + guard;

  std::vector<float> host_states =
      testing::RandomNormal(rng, stride * c.batch, 0.1f);
  auto states = DeviceBuffer<float>::Create(host_states.size());
  ASSERT_TRUE(states.ok());
  ASSERT_TRUE(states->CopyFromHost(host_states).ok());
  // Session b lives at slot perm[b]: the kernel must follow the pointers.
  const std::vector<int> perm = testing::ShuffledSlots(c.batch, rng);
  auto ptrs = DeviceBuffer<float*>::Create(c.batch);
  ASSERT_TRUE(ptrs.ok());
  ASSERT_TRUE(ptrs->CopyFromHost(testing::SlotBases(states->data(), perm, stride)).ok());

  std::vector<std::vector<double>> ref(c.batch);
  for (int b = 0; b < c.batch; ++b) {
    const float* m = host_states.data() + perm[b] * stride + offset;
    ref[b].assign(m, m + hdd);
  }

  auto q = DeviceBuffer<float>::Create(c.batch * hd);
  auto k = DeviceBuffer<float>::Create(c.batch * hd);
  auto v = DeviceBuffer<float>::Create(c.batch * hd);
  auto y = DeviceBuffer<float>::Create(c.batch * hd);
  auto alpha = DeviceBuffer<float>::Create(c.batch * c.heads);
  auto theta = DeviceBuffer<float>::Create(c.batch * c.heads);
  ASSERT_TRUE(q.ok() && k.ok() && v.ok() && y.ok() && alpha.ok() && theta.ok());

  for (int step = 0; step < 3; ++step) {
    std::vector<float> hq = testing::RandomNormal(rng, c.batch * hd);
    std::vector<float> hk = testing::RandomNormal(rng, c.batch * hd);
    testing::NormalizeRows(hq, c.dim);
    testing::NormalizeRows(hk, c.dim);
    std::vector<float> hv = testing::RandomNormal(rng, c.batch * hd);
    std::vector<float> ha = testing::RandomUniform(rng, c.batch * c.heads, 0.5f, 1.0f);
    std::vector<float> ht = testing::RandomUniform(rng, c.batch * c.heads, 0.0f, 1.0f);
    ASSERT_TRUE(q->CopyFromHost(hq).ok());
    ASSERT_TRUE(k->CopyFromHost(hk).ok());
    ASSERT_TRUE(v->CopyFromHost(hv).ok());
    ASSERT_TRUE(alpha->CopyFromHost(ha).ok());
    ASSERT_TRUE(theta->CopyFromHost(ht).ok());
    ASSERT_TRUE(y->Fill(0xFF).ok());  // NaN poison: every y must be written

    GdrDecodeParams p;
    p.batch = c.batch;
    p.heads = c.heads;
    p.dim = c.dim;
    p.states = ptrs->data();
    p.state_offset = offset;
    p.q = q->data();
    p.k = k->data();
    p.v = v->data();
    p.alpha = alpha->data();
    p.theta = theta->data();
    p.y = y->data();
    ASSERT_TRUE(GdrDecode(p, nullptr).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

    std::vector<double> want_y(c.batch * hd);
    for (int b = 0; b < c.batch; ++b) {
      ReferenceStep(c.heads, c.dim, ref[b], &hq[b * hd], &hk[b * hd], &hv[b * hd],
                    &ha[b * c.heads], &ht[b * c.heads], &want_y[b * hd]);
    }
    std::vector<float> got_y(c.batch * hd);
    ASSERT_TRUE(y->CopyToHost(absl::MakeSpan(got_y)).ok());
    const double y_err = RelativeError(got_y, want_y);
    std::printf("step %d: rel err y %.3g\n", step, y_err);
    EXPECT_LT(y_err, 1e-4) << "y, step " << step;

    std::vector<float> got_states(host_states.size());
    ASSERT_TRUE(states->CopyToHost(absl::MakeSpan(got_states)).ok());
    for (int b = 0; b < c.batch; ++b) {
      const float* base = got_states.data() + perm[b] * stride;
      const float* orig = host_states.data() + perm[b] * stride;
      std::vector<float> m(base + offset, base + offset + hdd);
      EXPECT_LT(RelativeError(m, ref[b]), 1e-4) << "M, session " << b;
      EXPECT_TRUE(std::equal(base, base + offset, orig)) << "lead, session " << b;
      EXPECT_TRUE(std::equal(base + offset + hdd, base + stride, orig + offset + hdd))
          << "guard, session " << b;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AwkwardSizes, GdrDecodeParityTest,
    ::testing::Values(Case{1, 1, 4}, Case{3, 2, 64}, Case{5, 3, 128},
                      Case{7, 2, 96}, Case{2, 1, 256}, Case{33, 8, 128}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return "B" + std::to_string(info.param.batch) + "_H" +
             std::to_string(info.param.heads) + "_d" +
             std::to_string(info.param.dim);
    });

TEST(GdrDecodeValidationTest, RejectsBadShapesAndPointers) {
  // Validation never touches the device, so this runs without a GPU.
  alignas(16) float buf[64] = {};
  float* state_ptr = buf;
  GdrDecodeParams good;
  good.batch = 1;
  good.heads = 1;
  good.dim = 4;
  good.states = &state_ptr;
  good.q = good.k = good.v = good.alpha = good.theta = buf;
  good.y = buf + 16;

  auto expect_invalid = [](const GdrDecodeParams& p, const char* what) {
    absl::Status s = GdrDecode(p, nullptr);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << what;
  };
  GdrDecodeParams p = good;
  p.batch = 0;
  expect_invalid(p, "batch 0");
  p = good;
  p.heads = -1;
  expect_invalid(p, "heads -1");
  p = good;
  p.dim = 130;
  expect_invalid(p, "dim 130");
  p = good;
  p.dim = 260;
  expect_invalid(p, "dim 260");
  p = good;
  p.dim = 6;
  expect_invalid(p, "dim 6");
  p = good;
  p.state_offset = 3;
  expect_invalid(p, "offset 3");
  p = good;
  p.k = nullptr;
  expect_invalid(p, "null k");
  p = good;
  p.states = nullptr;
  expect_invalid(p, "null states");
  p = good;
  p.q = buf + 1;
  expect_invalid(p, "misaligned q");
  p = good;
  p.theta = good.y + 3;  // y spans 4 floats
  const absl::Status overlap = GdrDecode(p, nullptr);
  EXPECT_EQ(overlap.code(), absl::StatusCode::kInvalidArgument) << overlap;
  EXPECT_NE(overlap.message().find("y overlaps theta"), absl::string_view::npos) << overlap;
}

}  // namespace
}  // namespace hecate
