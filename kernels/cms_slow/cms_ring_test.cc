// Parity of the ring decode kernel and CmsRingFold (cms_ring_kernel.cu)
// with docs/MODEL.md's token-by-token definition in double
// (cms_slow_reference.h): sessions at scattered pulse ids (one in the
// trillions) decode one token per call through the rings for long enough
// that every level fires several times and full rings are added into G
// (slots smaller than, equal to and larger than the periods); after some
// calls the rings are folded and M, S and the canonical G compared. Each
// session's ring starts empty (origin = its pulse id) over NaN, so an entry
// read that was never written shows up. Reads are compared after every call.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/cms_slow/cms_slow.h"
#include "kernels/cms_slow/cms_slow_reference.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/cuda_test_util.h"
#include "kernels/testing/parity_util.h"

namespace hecate {
namespace {

using testing::ToDevice;
using testing::ToDouble;
using testing::ToHost;

struct RingCase {
  std::string name;
  int batch, heads, dim, slots;
  std::vector<int> periods;  // every level slow
};

std::vector<RingCase> Cases() {
  return {
      {"d24_slots4", 5, 3, 24, 4, {3, 8, 16, 40}},
      {"d128_slots16", 4, 2, 128, 16, {8, 16, 64}},
      {"d4_slots2", 3, 1, 4, 2, {2, 5}},
      // A block advances up to 4 levels: groups of 3 + 2, of 4, of 1.
      {"d8_5levels", 3, 2, 8, 4, {2, 3, 8, 12, 20}},
      {"d128_4levels", 2, 2, 128, 8, {3, 8, 10, 16}},
      {"d128_1level", 3, 2, 128, 16, {8}},
  };
}

class CmsRingParityTest : public ::testing::TestWithParam<int> {};

TEST_P(CmsRingParityTest, MatchesTokenByTokenDefinition) {
  HECATE_SKIP_WITHOUT_CUDA();
  const RingCase c = Cases()[GetParam()];
  std::mt19937_64 rng = testing::FreshRng(c.name.c_str());
  const int levels = static_cast<int>(c.periods.size()), width = c.heads * c.dim;
  const size_t dd = size_t(c.dim) * c.dim, hdd = size_t(c.heads) * dd;
  const size_t ring = size_t(c.heads) * c.slots * c.dim;
  // One session's buffer: M, S, G of each level, the origin, keys, errors.
  CmsSlowParams p;
  p.batch = c.batch;
  p.heads = c.heads;
  p.dim = c.dim;
  p.tokens = 1;
  p.levels = p.count = levels;
  p.path = CmsSlowPath::kRows;
  for (int i = 0; i < levels; ++i) {
    p.level[i] = i;
    p.period[i] = c.periods[i];
    p.m_offset[i] = (3 * i + 0) * hdd;
    p.s_offset[i] = (3 * i + 1) * hdd;
    p.g_offset[i] = (3 * i + 2) * hdd;
  }
  p.ring.slots = c.slots;
  p.ring.origin_offset = 3 * levels * hdd;
  p.ring.k_offset = p.ring.origin_offset + 4;
  for (int i = 0; i < levels; ++i) p.ring.e_offset[i] = p.ring.k_offset + (1 + i) * ring;
  const size_t stride = p.ring.k_offset + (1 + levels) * ring;

  CmsRingFoldParams fold;
  fold.batch = c.batch;
  fold.layers = 1;
  fold.heads = c.heads;
  fold.dim = c.dim;
  fold.count = levels;
  for (int i = 0; i < levels; ++i) {
    fold.period[i] = c.periods[i];
    fold.g_offset[i] = p.g_offset[i];
  }
  fold.ring = p.ring;

  // Pulse ids: scattered, one just before a fire of the longest period,
  // one in the trillions.
  std::vector<uint64_t> pulse(c.batch);
  for (int b = 0; b < c.batch; ++b) pulse[b] = rng() % 1000;
  pulse[0] = uint64_t(c.periods.back()) - 2;
  pulse[c.batch - 1] = (uint64_t(1) << 40) + rng() % 1000;

  std::vector<float> initial = testing::RandomNormal(rng, stride * c.batch, 0.2f);
  std::vector<std::vector<double>> ref(c.batch);
  for (int b = 0; b < c.batch; ++b) {
    float* s = initial.data() + b * stride;
    std::fill(s + p.ring.origin_offset, s + stride, std::numeric_limits<float>::quiet_NaN());
    uint64_t origin = pulse[b];  // an empty ring
    std::copy_n(reinterpret_cast<const float*>(&origin), 2, s + p.ring.origin_offset);
    ref[b] = ToDouble(absl::MakeConstSpan(s, stride));
  }
  DeviceBuffer<float> states = ToDevice(initial);
  std::vector<float*> bases(c.batch);
  const std::vector<int> perm = testing::ShuffledSlots(c.batch, rng);
  for (int b = 0; b < c.batch; ++b) bases[b] = states.data() + perm[b] * stride;
  // Sessions sit in shuffled slots: upload each one's buffer into its slot.
  std::vector<float> placed(initial.size());
  for (int b = 0; b < c.batch; ++b) {
    std::copy_n(initial.begin() + b * stride, stride, placed.begin() + perm[b] * stride);
  }
  ASSERT_EQ(cudaMemcpy(states.data(), placed.data(), placed.size() * sizeof(float),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  DeviceBuffer<float*> ptrs = ToDevice(bases);
  ASSERT_FALSE(HasFailure());

  const size_t n = size_t(c.batch) * width, n_gates = 3 * size_t(levels) * c.heads;
  double worst_y = 0, worst_state = 0;
  const int steps = 3 * c.periods.back() + 5;
  for (int step = 0; step < steps; ++step) {
    SCOPED_TRACE(absl::StrCat(c.name, ", step ", step));
    std::vector<float> q = testing::RandomNormal(rng, n), k = testing::RandomNormal(rng, n);
    testing::NormalizeRows(q, c.dim);
    testing::NormalizeRows(k, c.dim);
    const std::vector<float> v = testing::RandomNormal(rng, n);
    std::vector<float> gates = testing::RandomUniform(rng, c.batch * n_gates, 0.0f, 1.0f);
    for (int b = 0; b < c.batch; ++b) {  // alpha in (0.5, 1)
      for (size_t i = 0; i < size_t(levels) * c.heads; ++i) {
        gates[b * n_gates + i] = 0.5f + 0.5f * gates[b * n_gates + i];
      }
    }
    DeviceBuffer<float> d_q = ToDevice(q), d_k = ToDevice(k), d_v = ToDevice(v);
    DeviceBuffer<float> d_gates = ToDevice(gates);
    DeviceBuffer<uint64_t> d_pulse = ToDevice(pulse);
    DeviceBuffer<float> ys = testing::Poisoned(levels * n);
    ASSERT_FALSE(HasFailure());
    p.states = ptrs.data();
    p.pulse = d_pulse.data();
    p.q = d_q.data();
    p.k = d_k.data();
    p.v = d_v.data();
    p.qkv_stride = width;
    p.gates = d_gates.data();
    p.gate_stride = n_gates;
    p.y = ys.data();
    p.y_plane = n;
    const absl::Status s = CmsSlow(p, nullptr);
    ASSERT_TRUE(s.ok()) << s;

    const std::vector<double> qd = ToDouble(q), kd = ToDouble(k), vd = ToDouble(v);
    const std::vector<double> gd = ToDouble(gates);
    std::vector<double> want_y(levels * n);
    for (int b = 0; b < c.batch; ++b) {
      for (int i = 0; i < levels; ++i) {
        for (int h = 0; h < c.heads; ++h) {
          reference::CmsHeadInputs in;
          in.dim = c.dim;
          in.period = c.periods[i];
          in.first_pulse = pulse[b];
          in.tokens = 1;
          in.q = &qd[b * width + h * c.dim];
          in.k = &kd[b * width + h * c.dim];
          in.v = &vd[b * width + h * c.dim];
          in.qkv_stride = width;
          in.alpha = &gd[b * n_gates + (0 * levels + i) * c.heads + h];
          in.theta = &gd[b * n_gates + (1 * levels + i) * c.heads + h];
          in.eta = &gd[b * n_gates + (2 * levels + i) * c.heads + h];
          in.gate_stride = n_gates;
          double* base = ref[b].data();
          reference::CmsLevelHead(in, base + p.m_offset[i] + h * dd,
                                  base + p.s_offset[i] + h * dd, base + p.g_offset[i] + h * dd,
                                  &want_y[i * n + b * width + h * c.dim], width);
        }
      }
    }
    const std::vector<float> got_y = ToHost(ys);
    const double err_y = testing::RelativeError(absl::MakeConstSpan(got_y),
                                                absl::MakeConstSpan(want_y));
    EXPECT_LT(err_y, 1e-4) << "reads";
    worst_y = std::max(worst_y, err_y);
    for (int b = 0; b < c.batch; ++b) ++pulse[b];

    // Fold mid-ring now and then, and at the end: the canonical state.
    if (step % 23 == 11 || step == steps - 1) {
      DeviceBuffer<uint64_t> now = ToDevice(pulse);
      fold.states = ptrs.data();
      fold.pulse = now.data();
      const absl::Status folded = CmsRingFold(fold, nullptr);
      ASSERT_TRUE(folded.ok()) << folded;
      const std::vector<float> got = ToHost(states);
      for (int b = 0; b < c.batch; ++b) {
        const float* g = got.data() + perm[b] * stride;
        uint64_t origin = 0;
        std::copy_n(g + p.ring.origin_offset, 2, reinterpret_cast<float*>(&origin));
        EXPECT_EQ(origin, pulse[b]) << "session " << b << ": the fold sets the origin";
        for (int i = 0; i < levels; ++i) {
          const size_t offsets[] = {p.m_offset[i], p.s_offset[i], p.g_offset[i]};
          const char* names[] = {"M", "S", "G"};
          for (int t = 0; t < 3; ++t) {
            const double err =
                testing::RelativeError(absl::MakeConstSpan(g + offsets[t], hdd),
                                       absl::MakeConstSpan(ref[b].data() + offsets[t], hdd));
            EXPECT_LT(err, 1e-4) << "session " << b << " (pulse " << pulse[b] << ") level "
                                 << i << " " << names[t];
            worst_state = std::max(worst_state, err);
          }
        }
      }
    }
    if (HasFailure()) break;
  }
  std::printf("PARITY %-14s reads %.3g  state %.3g  tolerance 1e-04\n", c.name.c_str(),
              worst_y, worst_state);
}

INSTANTIATE_TEST_SUITE_P(Rings, CmsRingParityTest, ::testing::Range(0, int(Cases().size())),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return Cases()[info.param].name;
                         });

TEST(CmsRingValidationTest, RejectsRingOutsideDecode) {
  CmsSlowParams p;
  p.batch = 1;
  p.heads = 1;
  p.dim = 8;
  p.tokens = 2;
  p.levels = p.count = 1;
  p.period[0] = 4;
  p.qkv_stride = 8;
  p.gate_stride = 3;
  p.y_plane = 16;
  p.ring.slots = 16;
  EXPECT_EQ(CmsSlow(p, nullptr).code(), absl::StatusCode::kInvalidArgument);  // 2 tokens
  p.tokens = 1;
  p.ring.slots = 1;
  EXPECT_EQ(CmsSlow(p, nullptr).code(), absl::StatusCode::kInvalidArgument);  // 1 slot
  CmsRingFoldParams f;
  f.batch = 2;
  f.layers = 1;
  f.heads = 1;
  f.dim = 8;
  f.count = 1;
  f.period[0] = 4;
  f.ring.slots = 16;
  float state = 0;
  f.one_state = &state;  // one state takes batch 1
  EXPECT_EQ(CmsRingFold(f, nullptr).code(), absl::StatusCode::kInvalidArgument);
  f.period[0] = 1;
  f.batch = 1;
  EXPECT_EQ(CmsRingFold(f, nullptr).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hecate
