#include "kernels/gdr_prefill/gdr_prefill.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/cuda_test_util.h"

namespace hecate {
namespace {

using testing::RelativeError;

struct Case {
  int batch, heads, dim, tokens;
  bool projection_layout;  // q|k|v interleaved per token, gates strided
  float alpha_lo;          // alpha ~ U(alpha_lo, 1)
};

std::string Name(const Case& c) {
  return "B" + std::to_string(c.batch) + "_H" + std::to_string(c.heads) + "_d" +
         std::to_string(c.dim) + "_T" + std::to_string(c.tokens) +
         (c.projection_layout ? "_strided" : "") +
         (c.alpha_lo < 0.1f ? "_fastdecay" : "");
}

class GdrPrefillParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(GdrPrefillParityTest, MatchesTokenByTokenDefinition) {
  HECATE_SKIP_WITHOUT_CUDA();
  const Case c = GetParam();
  std::mt19937_64 rng = testing::FreshRng(Name(c).c_str());
  const int hd = c.heads * c.dim;
  const size_t hdd = size_t(c.heads) * c.dim * c.dim;
  const size_t rows = size_t(c.batch) * c.tokens;
  // Projection layout: one [rows, 3 * hd] buffer holding q | k | v, and
  // gates [rows, 3 * 2 * heads] with alpha at column h, theta at 2*heads+h.
  const size_t qkv_stride = c.projection_layout ? 3 * size_t(hd) : hd;
  const size_t gate_stride = c.projection_layout ? 6 * size_t(c.heads) : c.heads;

  std::vector<float> qkv = testing::RandomNormal(rng, rows * 3 * hd);
  std::vector<float> hq(qkv.begin(), qkv.begin() + rows * hd);
  std::vector<float> hk(qkv.begin() + rows * hd, qkv.begin() + 2 * rows * hd);
  std::vector<float> hv(qkv.begin() + 2 * rows * hd, qkv.end());
  testing::NormalizeRows(hq, c.dim);
  testing::NormalizeRows(hk, c.dim);
  std::vector<float> ha = testing::RandomUniform(rng, rows * c.heads, c.alpha_lo, 1.0f);
  std::vector<float> ht = testing::RandomUniform(rng, rows * c.heads, 0.0f, 1.0f);
  // Lay the inputs out as the kernel will read them.
  std::vector<float> dev_qkv, dev_gates;
  if (c.projection_layout) {
    dev_qkv = testing::RandomNormal(rng, rows * qkv_stride);
    dev_gates = testing::RandomNormal(rng, rows * gate_stride);
    for (size_t r = 0; r < rows; ++r) {
      std::copy_n(&hq[r * hd], hd, &dev_qkv[r * qkv_stride]);
      std::copy_n(&hk[r * hd], hd, &dev_qkv[r * qkv_stride + hd]);
      std::copy_n(&hv[r * hd], hd, &dev_qkv[r * qkv_stride + 2 * hd]);
      std::copy_n(&ha[r * c.heads], c.heads, &dev_gates[r * gate_stride]);
      std::copy_n(&ht[r * c.heads], c.heads,
                  &dev_gates[r * gate_stride + 2 * c.heads]);
    }
  } else {
    dev_qkv.insert(dev_qkv.end(), hq.begin(), hq.end());
    dev_qkv.insert(dev_qkv.end(), hk.begin(), hk.end());
    dev_qkv.insert(dev_qkv.end(), hv.begin(), hv.end());
    dev_gates.insert(dev_gates.end(), ha.begin(), ha.end());
    dev_gates.insert(dev_gates.end(), ht.begin(), ht.end());
  }
  const size_t offset = 20, guard = 16, stride = offset + hdd + guard;
  std::vector<float> host_states = testing::RandomNormal(rng, stride * c.batch, 0.3f);

  auto qkv_buf = DeviceBuffer<float>::Create(dev_qkv.size());
  auto gate_buf = DeviceBuffer<float>::Create(dev_gates.size());
  auto states = DeviceBuffer<float>::Create(host_states.size());
  auto ptrs = DeviceBuffer<float*>::Create(c.batch);
  auto y = DeviceBuffer<float>::Create(std::max<size_t>(rows * hd, 1));
  const size_t ws_floats =
      GdrPrefillWorkspaceFloats(c.batch, c.heads, c.dim, c.tokens);
  auto ws = DeviceBuffer<float>::Create(std::max<size_t>(ws_floats, 4));
  ASSERT_TRUE(qkv_buf.ok() && gate_buf.ok() && states.ok() && ptrs.ok() &&
              y.ok() && ws.ok());
  ASSERT_TRUE(qkv_buf->CopyFromHost(dev_qkv).ok());
  ASSERT_TRUE(gate_buf->CopyFromHost(dev_gates).ok());
  ASSERT_TRUE(states->CopyFromHost(host_states).ok());
  const std::vector<int> perm = testing::ShuffledSlots(c.batch, rng);
  ASSERT_TRUE(ptrs->CopyFromHost(testing::SlotBases(states->data(), perm, stride)).ok());
  ASSERT_TRUE(y->Fill(0xFF).ok());
  ASSERT_TRUE(ws->Fill(0xFF).ok());  // every workspace value must be written

  GdrPrefillParams p;
  p.batch = c.batch;
  p.heads = c.heads;
  p.dim = c.dim;
  p.tokens = c.tokens;
  p.states = ptrs->data();
  p.state_offset = offset;
  const float* base = qkv_buf->data();
  p.q = base;
  p.k = c.projection_layout ? base + hd : base + rows * hd;
  p.v = c.projection_layout ? base + 2 * hd : base + 2 * rows * hd;
  p.qkv_stride = qkv_stride;
  p.alpha = gate_buf->data();
  p.theta = c.projection_layout ? gate_buf->data() + 2 * c.heads
                                : gate_buf->data() + rows * c.heads;
  p.gate_stride = gate_stride;
  p.y = y->data();
  p.workspace = ws->data();
  p.workspace_floats = ws->size();
  ASSERT_TRUE(GdrPrefill(p, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  // Reference: the definition, token by token, in double.
  std::vector<double> want_y(rows * hd);
  std::vector<float> got_states(host_states.size());
  ASSERT_TRUE(states->CopyToHost(absl::MakeSpan(got_states)).ok());
  for (int b = 0; b < c.batch; ++b) {
    const float* m0 = host_states.data() + perm[b] * stride + offset;
    std::vector<double> M(m0, m0 + hdd);
    for (int t = 0; t < c.tokens; ++t) {
      const size_t r = size_t(b) * c.tokens + t;
      for (int h = 0; h < c.heads; ++h) {
        double* m = M.data() + size_t(h) * c.dim * c.dim;
        const float* k = &hk[r * hd + h * c.dim];
        const float* q = &hq[r * hd + h * c.dim];
        const float* v = &hv[r * hd + h * c.dim];
        const double alpha = ha[r * c.heads + h], theta = ht[r * c.heads + h];
        for (int i = 0; i < c.dim; ++i) {
          double* row = m + size_t(i) * c.dim;
          double mk = 0;
          for (int j = 0; j < c.dim; ++j) mk += (row[j] *= alpha) * k[j];
          const double step = theta * (mk - v[i]);
          double yi = 0;
          for (int j = 0; j < c.dim; ++j) yi += (row[j] -= step * k[j]) * q[j];
          want_y[r * hd + h * c.dim + i] = yi;
        }
      }
    }
    const float* got_m = got_states.data() + perm[b] * stride;
    std::vector<float> m(got_m + offset, got_m + offset + hdd);
    const double m_err = RelativeError(m, M);
    if (b == 0) std::printf("rel err M %.3g\n", m_err);
    EXPECT_LT(m_err, 1e-4) << "final M, session " << b;
    const float* orig = host_states.data() + perm[b] * stride;
    EXPECT_TRUE(std::equal(got_m, got_m + offset, orig)) << "lead, session " << b;
    EXPECT_TRUE(std::equal(got_m + offset + hdd, got_m + stride, orig + offset + hdd))
        << "guard, session " << b;
  }
  std::vector<float> got_y(rows * hd);
  ASSERT_TRUE(y->CopyToHost(absl::MakeSpan(got_y)).ok());
  const double y_err = RelativeError(got_y, want_y);
  std::printf("rel err y %.3g\n", y_err);
  EXPECT_LT(y_err, 1e-4) << "y";
}

INSTANTIATE_TEST_SUITE_P(
    AwkwardSizes, GdrPrefillParityTest,
    ::testing::Values(Case{1, 1, 64, 1, false, 0.5f},
                      Case{3, 2, 64, 130, false, 0.5f},
                      Case{2, 3, 128, 64, false, 0.5f},
                      Case{1, 2, 128, 200, true, 0.5f},
                      Case{5, 1, 64, 63, true, 0.5f},
                      Case{1, 2, 64, 300, false, 0.001f},
                      Case{1, 1, 64, 1000, false, 0.9f}),
    [](const ::testing::TestParamInfo<Case>& info) { return Name(info.param); });

TEST(GdrPrefillValidationTest, RejectsBadShapesAndWorkspace) {
  // Host memory stands in for device memory: validation never touches it.
  // Inputs may share memory; outputs (y, workspace) get their own spans.
  alignas(16) static float buf[1024] = {};
  float* state_ptr = buf;
  GdrPrefillParams good;
  good.batch = good.heads = 1;
  good.dim = 64;
  good.tokens = 1;
  good.states = &state_ptr;
  good.q = good.k = good.v = good.alpha = good.theta = buf;
  good.y = buf + 64;
  good.qkv_stride = 64;
  good.gate_stride = 1;
  good.workspace = buf + 128;
  good.workspace_floats = 0;  // too small for 1 token: checked below
  auto expect_invalid = [](const GdrPrefillParams& p, const char* what) {
    EXPECT_EQ(GdrPrefill(p, nullptr).code(), absl::StatusCode::kInvalidArgument)
        << what;
  };
  expect_invalid(good, "workspace too small");
  GdrPrefillParams p = good;
  p.tokens = 0;  // nothing to do, nothing launched
  p.workspace_floats = 0;
  EXPECT_TRUE(GdrPrefill(p, nullptr).ok());
  p = good;
  p.workspace_floats = 1 << 20;
  p.dim = 96;
  expect_invalid(p, "dim 96");
  p.dim = 256;
  expect_invalid(p, "dim 256");
  p.dim = 64;
  p.qkv_stride = 60;
  expect_invalid(p, "qkv_stride < heads * dim");
  p.qkv_stride = 66;
  expect_invalid(p, "qkv_stride not a multiple of 4");
  p.qkv_stride = 64;
  p.gate_stride = 0;
  expect_invalid(p, "gate_stride 0");
  p.gate_stride = 1;
  p.tokens = -1;
  expect_invalid(p, "tokens -1");
  p.tokens = 65535 * kGdrChunk + 1;  // one chunk more than a grid column holds
  p.workspace_floats = GdrPrefillWorkspaceFloats(1, 1, 64, p.tokens);
  expect_invalid(p, "65536 chunks");
  p.workspace_floats = 1 << 20;
  p.tokens = 1;
  p.v = nullptr;
  expect_invalid(p, "null v");
  p.v = buf;
  p.y = good.y + 1;
  expect_invalid(p, "misaligned y");
  // Overlaps: each case differs from `good` in one pointer, and the error
  // must be the overlap one (good itself cannot be run here: it would
  // launch on host memory).
  auto expect_overlap = [](const GdrPrefillParams& p, const char* what) {
    const absl::Status s = GdrPrefill(p, nullptr);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_NE(s.message().find(what), absl::string_view::npos) << s;
  };
  p = good;
  p.workspace_floats = 1 << 20;
  p.y = buf + 32;  // floats 32..95: meets q's 0..63
  expect_overlap(p, "y overlaps q");
  p = good;
  p.workspace_floats = 1 << 20;
  p.workspace = good.y + 60;  // aligned, and meets y's last floats
  expect_overlap(p, "y overlaps workspace");
  p = good;
  p.workspace_floats = 1 << 20;
  p.theta = good.workspace + 1000;  // inside the span the call writes
  expect_overlap(p, "workspace overlaps theta");
}

}  // namespace
}  // namespace hecate
