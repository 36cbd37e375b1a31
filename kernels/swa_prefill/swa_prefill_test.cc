// Parity of SwaPrefill (swa_prefill.h) with docs/MODEL.md's token-by-token
// sliding-window attention in double (swa_prefill_reference.h, itself proven
// against the CPU backend by kernels/fused:model_reference_test), over
// consecutive chunks.
//
// Layouts are those of backends/cuda/forward_engine.cc: each session's
// state is a whole StateLayout buffer (layer 1's rings), reached through a
// shuffled pointer table; q, k, v are planes of the activation buffer with
// stride D and out is [rows, D]; that layout takes the tensor-core kernel
// for d = 64 and 128 (and, in the _ffma cases, the register-tiled FFMA
// kernel). A second layout (interleaved projection rows with an
// odd stride, padded output rows) takes the general kernel. Pulse ids give
// an empty ring, a partial one, one that fills or wraps inside the chunk, and
// positions in the billions; T below and above W, T not a multiple of the
// tiles (32 or 64 queries). Ring slots that hold no position yet are NaN, so
// reading one shows.
#include "kernels/swa_prefill/swa_prefill.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/swa_prefill/swa_prefill_reference.h"
#include "kernels/testing/cuda_test_util.h"
#include "kernels/testing/parity_util.h"
#include "kernels/testing/validation_util.h"
#include "runtime/model_config.h"
#include "runtime/model_state.h"

namespace hecate {
namespace {

using testing::BitwiseEqual;
using testing::NormwiseNear;
using testing::StillPoisoned;
using testing::ToDevice;
using testing::ToDouble;
using testing::ToHost;

constexpr int kLayer = 1;
constexpr size_t kLead = 8;     // floats before each session's state (16-byte aligned)
constexpr size_t kGuard = 36;   // floats after it
constexpr size_t kOutGuard = 29;

size_t AlignUp(size_t n) { return (n + 63) / 64 * 64; }  // as step_workspace.cc

struct Case {
  std::string name;
  int batch, heads, dim, window, tokens;
  bool projection_layout;  // q | k | v per row, stride 3D + 1; out stride D + 3
  bool tiled;              // which kernel the layout must select
  int chunks;
  SwaPrefillKernel kernel = SwaPrefillKernel::kAuto;
  bool tf32 = false;  // one TF32 product each: the 3e-3 tolerance
};

std::vector<Case> BaseCases() {
  return {
      {"d64_tiled", 3, 2, 64, 48, 130, false, true, 2},
      {"d64_general", 3, 2, 64, 48, 130, true, false, 2},
      {"d64_tile_multiples", 2, 1, 64, 64, 128, false, true, 2},
      {"d128_tiled_T_lt_W", 2, 3, 128, 200, 77, false, true, 2},
      {"d128_general", 3, 2, 128, 100, 70, true, false, 2},
      {"d128_single_token", 6, 1, 128, 64, 1, false, true, 3},
      {"small_config", 5, 3, 24, 24, 45, false, false, 2},
      {"window1", 2, 1, 4, 1, 9, true, false, 2},
      {"d36_T33", 7, 2, 36, 37, 33, false, false, 2},
      {"d100_long", 2, 2, 100, 130, 300, true, false, 1},
      {"base_window", 1, 2, 128, 512, 600, false, true, 1},
  };
}

// Every case as the engine runs it (tiled layouts on tensor cores), and the
// tiled ones again on the register-tiled FFMA kernel and in TF32.
std::vector<Case> Cases() {
  std::vector<Case> out = BaseCases();
  for (const Case& c : BaseCases()) {
    if (!c.tiled) continue;
    Case x = c;
    x.name += "_ffma";
    x.kernel = SwaPrefillKernel::kFfmaTiles;
    out.push_back(x);
    Case y = c;
    y.name += "_tf32";
    y.tf32 = true;
    out.push_back(y);
  }
  return out;
}

// First-chunk pulse ids: empty ring, a third full, full after one token, a
// wrap in the middle of the chunk, the billions, 2^40.
std::vector<uint64_t> PulseCandidates(int window, int tokens) {
  const uint64_t w = uint64_t(window);
  return {0,
          w / 3,
          w - 1,
          7 * w + (w - 1 - uint64_t(tokens / 2) % w),
          5000000000ull + 13,
          (uint64_t(1) << 40) + w - 1};
}

class SwaPrefillParityTest : public ::testing::TestWithParam<int> {};

TEST_P(SwaPrefillParityTest, MatchesTokenByTokenDefinition) {
  HECATE_SKIP_WITHOUT_CUDA();
  const Case c = Cases()[GetParam()];
  std::mt19937_64 rng = testing::FreshRng(c.name.c_str());
  ModelConfig config;
  config.d_model = c.heads * c.dim;
  config.n_layers = 2;
  config.n_heads = c.heads;
  config.window = c.window;
  config.periods = {1, 2};
  config.d_ff = 8;
  const StateLayout layout(config);
  const int width = config.d_model, d = c.dim;
  const size_t rows = size_t(c.batch) * c.tokens, n = rows * width;
  const size_t ring = size_t(c.window) * d;
  const size_t stride = (kLead + layout.total_floats() + kGuard + 3) / 4 * 4;
  const size_t k_offset = layout.tensors()[layout.Find(kLayer, StateKind::kWindowKeys, -1)].offset;
  const size_t v_offset =
      layout.tensors()[layout.Find(kLayer, StateKind::kWindowValues, -1)].offset;

  const std::vector<uint64_t> candidates = PulseCandidates(c.window, c.tokens);
  std::vector<uint64_t> pulse(c.batch);
  const size_t shift = rng() % candidates.size();
  for (int b = 0; b < c.batch; ++b) pulse[b] = candidates[(b + shift) % candidates.size()];
  const std::vector<int> perm = testing::ShuffledSlots(c.batch, rng);

  // Random state; ring slots that hold no position yet (P < W) are NaN.
  std::vector<float> expected = testing::RandomNormal(rng, stride * c.batch);
  for (int b = 0; b < c.batch; ++b) {
    float* base = expected.data() + perm[b] * stride + kLead;
    for (uint64_t slot = pulse[b]; slot < uint64_t(c.window); ++slot) {
      for (int h = 0; h < c.heads; ++h) {
        std::fill_n(base + k_offset + h * ring + slot * d, d, testing::PoisonValue());
        std::fill_n(base + v_offset + h * ring + slot * d, d, testing::PoisonValue());
      }
    }
  }
  DeviceBuffer<float> states = ToDevice(expected);
  DeviceBuffer<float*> ptrs = ToDevice(testing::SlotBases(states.data(), perm, stride, kLead));
  std::vector<std::vector<double>> ref(c.batch);  // each session's buffer, in double
  for (int b = 0; b < c.batch; ++b) {
    ref[b].assign(expected.begin() + perm[b] * stride, expected.begin() + (perm[b] + 1) * stride);
  }
  ASSERT_FALSE(HasFailure());

  const size_t qkv_stride = c.projection_layout ? 3 * size_t(width) + 1 : width;
  const size_t out_stride = c.projection_layout ? size_t(width) + 3 : width;
  const size_t plane = AlignUp(n + 1);
  for (int chunk = 0; chunk < c.chunks; ++chunk) {
    SCOPED_TRACE(absl::StrCat(c.name, ", chunk ", chunk));
    const std::vector<float> q = testing::RandomNormal(rng, n, 0.5f);
    const std::vector<float> k = testing::RandomNormal(rng, n);
    const std::vector<float> v = testing::RandomNormal(rng, n);
    std::vector<float> qkv =
        testing::RandomNormal(rng, c.projection_layout ? rows * qkv_stride : 3 * plane);
    const size_t q_at = 0;
    const size_t k_at = c.projection_layout ? width : plane;
    const size_t v_at = c.projection_layout ? 2 * width : 2 * plane;
    for (size_t r = 0; r < rows; ++r) {
      std::copy_n(&q[r * width], width, &qkv[q_at + r * qkv_stride]);
      std::copy_n(&k[r * width], width, &qkv[k_at + r * qkv_stride]);
      std::copy_n(&v[r * width], width, &qkv[v_at + r * qkv_stride]);
    }
    DeviceBuffer<float> d_qkv = ToDevice(qkv);
    DeviceBuffer<uint64_t> d_pulse = ToDevice(pulse);
    DeviceBuffer<float> out = testing::Poisoned(rows * out_stride + kOutGuard);
    ASSERT_FALSE(HasFailure());

    SwaPrefillParams p;
    p.batch = c.batch;
    p.heads = c.heads;
    p.dim = d;
    p.window = c.window;
    p.tokens = c.tokens;
    p.states = ptrs.data();
    p.k_offset = k_offset;
    p.v_offset = v_offset;
    p.pulse = d_pulse.data();
    p.q = d_qkv.data() + q_at;
    p.k = d_qkv.data() + k_at;
    p.v = d_qkv.data() + v_at;
    p.qkv_stride = qkv_stride;
    p.out = out.data();
    p.out_stride = out_stride;
    p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
    p.kernel = c.kernel;
    p.tf32 = c.tf32;
    ASSERT_EQ(SwaPrefillTiledSupports(p), c.tiled) << "the case no longer takes its kernel";
    const absl::Status s = SwaPrefill(p, nullptr);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

    const std::vector<double> qd = ToDouble(q), kd = ToDouble(k), vd = ToDouble(v);
    std::vector<double> want_out(n);
    for (int b = 0; b < c.batch; ++b) {
      const size_t r0 = size_t(b) * c.tokens;
      double* base = ref[b].data() + kLead;
      for (int h = 0; h < c.heads; ++h) {
        reference::SwaHeadInputs in;
        in.dim = d;
        in.window = c.window;
        in.first_pulse = pulse[b];
        in.tokens = c.tokens;
        in.scale = 1.0 / std::sqrt(double(d));
        in.q = &qd[r0 * width + h * d];
        in.k = &kd[r0 * width + h * d];
        in.v = &vd[r0 * width + h * d];
        in.qkv_stride = width;
        reference::SwaPrefillHead(in, base + k_offset + h * ring, base + v_offset + h * ring,
                                  &want_out[r0 * width + h * d], width);
      }
      // The ring after the chunk: the last min(T, W) tokens' keys and
      // values, copied bit for bit into slot (P + t) % W.
      float* exp_base = expected.data() + perm[b] * stride + kLead;
      for (int t = std::max(0, c.tokens - c.window); t < c.tokens; ++t) {
        const size_t slot = size_t((pulse[b] + uint64_t(t)) % uint64_t(c.window));
        for (int h = 0; h < c.heads; ++h) {
          std::copy_n(&k[(r0 + t) * width + h * d], d, exp_base + k_offset + h * ring + slot * d);
          std::copy_n(&v[(r0 + t) * width + h * d], d, exp_base + v_offset + h * ring + slot * d);
        }
      }
    }

    const std::vector<float> got_out = ToHost(out);
    std::vector<float> got_rows(n), gaps;
    for (size_t r = 0; r < rows; ++r) {
      std::copy_n(&got_out[r * out_stride], width, &got_rows[r * width]);
      gaps.insert(gaps.end(), got_out.begin() + r * out_stride + width,
                  got_out.begin() + (r + 1) * out_stride);
    }
    const char* kernel = !c.tiled                                    ? "general"
                         : c.kernel == SwaPrefillKernel::kFfmaTiles ? "FFMA tiled"
                         : c.tf32                                   ? "tensor-core TF32"
                                                                    : "tensor-core";
    EXPECT_TRUE(NormwiseNear(absl::StrCat("out (", kernel, " kernel)"), got_rows, want_out,
                             c.tf32 ? 3e-3 : 1e-4));
    EXPECT_TRUE(StillPoisoned("gaps between out rows", gaps));
    EXPECT_TRUE(StillPoisoned("guard after out", absl::MakeConstSpan(got_out).subspan(
                                                     rows * out_stride, kOutGuard)));
    // The whole state: ring updates bit for bit, everything else untouched.
    const std::vector<float> got_states = ToHost(states);
    for (int b = 0; b < c.batch; ++b) {
      const size_t at = perm[b] * stride;
      EXPECT_TRUE(BitwiseEqual(absl::StrCat("state of session ", b, " (pulse ", pulse[b], ")"),
                               absl::MakeConstSpan(got_states).subspan(at, stride),
                               absl::MakeConstSpan(expected).subspan(at, stride)));
    }
    for (int b = 0; b < c.batch; ++b) pulse[b] += uint64_t(c.tokens);  // the next chunk
  }
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, SwaPrefillParityTest,
                         ::testing::Range(0, int(Cases().size())),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return Cases()[info.param].name;
                         });

TEST(SwaPrefillValidationTest, RejectsBadShapesAndPointers) {
  // Validation never touches the device, so this runs without a GPU.
  alignas(16) float buf[64] = {};
  float* state_ptr = buf;
  const uint64_t pulse = 0;
  SwaPrefillParams good;
  good.batch = good.heads = 1;
  good.dim = 4;
  good.window = 4;
  good.tokens = 1;
  good.states = &state_ptr;
  good.pulse = &pulse;
  good.q = good.k = good.v = buf;
  good.qkv_stride = 4;
  good.out = buf + 16;
  good.out_stride = 4;
  good.scale = 0.5f;
  // tokens == 0 is a valid call that launches nothing.
  SwaPrefillParams p = good;
  p.tokens = 0;
  EXPECT_TRUE(SwaPrefill(p, nullptr).ok());

  testing::ExpectEditsRejected<SwaPrefillParams>(
      good, [](const SwaPrefillParams& q) { return SwaPrefill(q, nullptr); },
      {
      {"batch 0", [](SwaPrefillParams& q) { q.batch = 0; }},
      {"batch 65536", [](SwaPrefillParams& q) { q.batch = 65536; }},
      {"heads 0", [](SwaPrefillParams& q) { q.heads = 0; }},
      {"heads 65536", [](SwaPrefillParams& q) { q.heads = 65536; }},
      {"window 0", [](SwaPrefillParams& q) { q.window = 0; }},
      {"dim 0", [](SwaPrefillParams& q) { q.dim = 0; }},
      {"dim 6", [](SwaPrefillParams& q) { q.dim = 6; }},
      {"dim 132", [](SwaPrefillParams& q) { q.dim = 132; }},
      {"tokens -1", [](SwaPrefillParams& q) { q.tokens = -1; }},
      {"qkv_stride < heads * dim", [](SwaPrefillParams& q) { q.qkv_stride = 3; }},
      {"out_stride < heads * dim", [](SwaPrefillParams& q) { q.out_stride = 3; }},
      {"scale 0", [](SwaPrefillParams& q) { q.scale = 0.0f; }},
      {"scale -1", [](SwaPrefillParams& q) { q.scale = -1.0f; }},
      {"scale NaN", [](SwaPrefillParams& q) { q.scale = NAN; }},
      {"scale inf", [](SwaPrefillParams& q) { q.scale = INFINITY; }},
      {"null states", [](SwaPrefillParams& q) { q.states = nullptr; }},
      {"null pulse", [](SwaPrefillParams& q) { q.pulse = nullptr; }},
      {"null q", [](SwaPrefillParams& q) { q.q = nullptr; }},
      {"null k", [](SwaPrefillParams& q) { q.k = nullptr; }},
      {"null v", [](SwaPrefillParams& q) { q.v = nullptr; }},
      {"null out", [](SwaPrefillParams& q) { q.out = nullptr; }},
      });
  // out may not overlap an input; the error says which.
  p = good;
  p.out = buf + 2;
  const absl::Status overlap = SwaPrefill(p, nullptr);
  EXPECT_EQ(overlap.code(), absl::StatusCode::kInvalidArgument) << overlap;
  EXPECT_NE(overlap.message().find("out overlaps q"), absl::string_view::npos) << overlap;
  // Alignment is not required: a misaligned layout takes the general kernel
  // (SwaPrefillTiledSupports), so there is no misalignment error to test.
  p = good;
  p.dim = 64;
  p.qkv_stride = p.out_stride = 64;
  EXPECT_TRUE(SwaPrefillTiledSupports(p));
  p.q = buf + 1;
  EXPECT_FALSE(SwaPrefillTiledSupports(p));
  p = good;
  p.dim = 128;
  p.qkv_stride = 129;
  p.out_stride = 128;
  EXPECT_FALSE(SwaPrefillTiledSupports(p));
  p.qkv_stride = 128;
  p.k_offset = 2;
  EXPECT_FALSE(SwaPrefillTiledSupports(p));
}

}  // namespace
}  // namespace hecate
