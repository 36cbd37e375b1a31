// Parity of CmsSlow (cms_slow.h) with docs/MODEL.md's token-by-token
// definition in double (cms_slow_reference.h, itself proven against the CPU
// backend by kernels/fused:model_reference_test), over consecutive chunks.
//
// Layouts are those of backends/cuda/forward_engine.cc: each session's
// state is a whole StateLayout buffer (layer 1 advanced, offsets from the
// layout), reached through a shuffled pointer table; q, k, v are planes of
// the activation buffer (or, second layout, interleaved projection rows);
// gates are [rows, 3 * levels * heads]; level j reads go to plane j of the
// y buffer. Pulse ids put fire points at a chunk's first token, its second,
// inside it, at its last token, nowhere, and in the billions.
//
// Every case runs through each kernel that applies: the row kernel (token
// by token), the span-wise one (groups of tokens between fire points) and
// its tensor-core form (16 rows a warp, 3xTF32); the cross_fire cases
// cover chunk lengths 1 to 2048 at the base head width on both span-wise
// kernels and on the engine's automatic choice.
#include "kernels/cms_slow/cms_slow.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/cms_slow/cms_slow_reference.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/cuda_test_util.h"
#include "kernels/testing/parity_util.h"
#include "kernels/testing/validation_util.h"
#include "runtime/model_config.h"
#include "runtime/model_state.h"

namespace hecate {
namespace {

using testing::BitwiseEqual;
using testing::NormwiseNear;
using testing::Poisoned;
using testing::StillPoisoned;
using testing::ToDevice;
using testing::ToDouble;
using testing::ToHost;

constexpr int kLayer = 1;       // not the first layer: offsets are non-trivial
constexpr size_t kLead = 8;     // floats before each session's state (16-byte aligned)
constexpr size_t kGuard = 44;   // floats after it
constexpr size_t kYGuard = 37;  // floats after the y planes

size_t AlignUp(size_t n) { return (n + 63) / 64 * 64; }  // as step_workspace.cc

struct Case {
  std::string name;
  int batch, heads, dim, tokens;
  std::vector<int> periods;  // every level of the model
  bool delta_in_rows;        // the period-1 level is advanced here too
  bool projection_layout;    // q | k | v interleaved per row, gates strided
  int chunks;
  CmsSlowPath path = CmsSlowPath::kAuto;
  bool tf32 = false;  // the tile kernel's products in one TF32 pass: 3e-3
};

std::vector<Case> BaseCases() {
  return {
      // The tiny config's slow level (d = 64: level 1 goes to gdr_prefill).
      {"tiny_slow", 7, 4, 64, 33, {1, 8}, false, false, 2},
      // The small test config, d = 24: the delta rule comes here too.
      {"small_rows", 7, 3, 24, 45, {1, 4, 16}, true, false, 2},
      // Base decode steps: every combination of firing levels.
      {"base_decode", 9, 8, 128, 1, {1, 8, 64, 512}, false, false, 3},
      // Base chunk over tile boundaries (32 tokens), strided inputs.
      {"base_chunk_strided", 9, 2, 128, 70, {1, 8, 64, 512}, false, true, 2},
      // d = 100: partial row block and partial float4 columns; rows path.
      {"d100_rows_strided", 5, 5, 100, 37, {1, 2, 6}, true, true, 2},
      // d = 4, no period-1 level at all, levels from plane 0.
      {"d4_no_delta", 3, 2, 4, 65, {2, 4}, false, false, 2},
      // d = 60: partial row block and lanes without columns; rows path.
      {"d60_rows", 2, 3, 60, 100, {1, 3, 9}, true, false, 2},
      // One long chunk: the 512 level fires inside it, four tiles and more.
      {"base_long", 1, 1, 128, 600, {1, 8, 64, 512}, false, false, 1},
      // The chunked kernel's other span shapes: two spans a window (16),
      // one span ending at each window's end (32), strided inputs.
      {"d64_periods_16_32", 3, 2, 64, 150, {1, 16, 32, 64}, false, true, 2},
  };
}

const char* PathName(CmsSlowPath path) {
  switch (path) {
    case CmsSlowPath::kAuto:
      return "auto";
    case CmsSlowPath::kRows:
      return "rows";
    case CmsSlowPath::kSpans:
      return "spans";
    case CmsSlowPath::kSpanTiles:
      return "tiles";
    case CmsSlowPath::kChunks:
      return "chunks";
  }
  return "?";
}

// The chunked kernel takes the case's slow levels (the only ones in a call
// without the period-1 level).
bool ChunksApply(const Case& c) {
  std::vector<int> slow;
  for (int p : c.periods) {
    if (p > 1) slow.push_back(p);
  }
  return !c.delta_in_rows && CmsChunksSupport(c.dim, int(slow.size()), slow.data());
}

// Each base case on every kernel that applies (the span-wise ones only
// without a period-1 level, the tensor-core ones at d 64 and 128, also in
// TF32), then chunk lengths that cross fire points of all three base slow
// levels, on every span-wise kernel and as the engine chooses.
std::vector<Case> Cases() {
  std::vector<Case> out;
  for (const Case& c : BaseCases()) {
    for (CmsSlowPath path : {CmsSlowPath::kRows, CmsSlowPath::kSpans, CmsSlowPath::kSpanTiles,
                             CmsSlowPath::kChunks}) {
      if (path != CmsSlowPath::kRows && c.delta_in_rows) continue;
      if (path == CmsSlowPath::kSpanTiles && !CmsSpanTilesSupport(c.dim)) continue;
      if (path == CmsSlowPath::kChunks && !ChunksApply(c)) continue;
      Case x = c;
      x.path = path;
      x.name = absl::StrCat(c.name, "_", PathName(path));
      out.push_back(x);
      if (path == CmsSlowPath::kSpanTiles || path == CmsSlowPath::kChunks) {
        x.tf32 = true;
        x.name += "_tf32";
        out.push_back(x);
      }
    }
  }
  for (int tokens : {1, 7, 64, 300, 2048}) {
    for (CmsSlowPath path : {CmsSlowPath::kSpans, CmsSlowPath::kSpanTiles, CmsSlowPath::kChunks,
                             CmsSlowPath::kAuto}) {
      // Few sessions and heads at the long lengths: the reference is double.
      const int batch = tokens > 64 ? 3 : 5, heads = tokens > 64 ? 1 : 2;
      out.push_back({absl::StrCat("cross_fire_T", tokens, "_", PathName(path)), batch, heads,
                     128, tokens, {1, 8, 64, 512}, false, tokens == 300, tokens > 64 ? 1 : 3,
                     path});
      if ((path == CmsSlowPath::kSpanTiles || path == CmsSlowPath::kChunks) && tokens == 2048) {
        out.push_back(out.back());
        out.back().tf32 = true;
        out.back().name += "_tf32";
      }
    }
  }
  return out;
}

// Pulse ids of the first chunk: fires at the first token of every level, at
// the last token, none, mid-period, in the billions, and at the first token
// of each level alone (with the ones dividing it).
std::vector<uint64_t> PulseCandidates(const std::vector<int>& call_periods, int tokens) {
  const uint64_t pmax = uint64_t(*std::max_element(call_periods.begin(), call_periods.end()));
  const uint64_t t = uint64_t(tokens);
  const uint64_t ends_at_fire = ((t + pmax - 1) / pmax + 1) * pmax - t;
  std::vector<uint64_t> out = {0,
                               pmax - 1,
                               pmax - 2,
                               ends_at_fire,
                               5000000000ull + 7,
                               (uint64_t(1) << 40) + pmax / 2 + 1,
                               2 * pmax + 1};
  for (int p : call_periods) out.push_back(pmax + uint64_t(p) - 1);
  return out;
}

class CmsSlowParityTest : public ::testing::TestWithParam<int> {};

TEST_P(CmsSlowParityTest, MatchesTokenByTokenDefinition) {
  HECATE_SKIP_WITHOUT_CUDA();
  const Case c = Cases()[GetParam()];
  std::mt19937_64 rng = testing::FreshRng(c.name.c_str());
  ModelConfig config;
  config.d_model = c.heads * c.dim;
  config.n_layers = 2;
  config.n_heads = c.heads;
  config.window = 3;
  config.periods = c.periods;
  config.d_ff = 8;
  const StateLayout layout(config);
  const int levels = config.levels(), width = config.d_model;
  const size_t rows = size_t(c.batch) * c.tokens, n = rows * width;
  const size_t dd = size_t(c.dim) * c.dim, hdd = size_t(c.heads) * dd;
  const size_t stride = (kLead + layout.total_floats() + kGuard + 3) / 4 * 4;

  // The call's levels, as forward_engine.cc builds them.
  CmsSlowParams p;
  p.batch = c.batch;
  p.heads = c.heads;
  p.dim = c.dim;
  p.tokens = c.tokens;
  p.levels = levels;
  p.path = c.path;
  p.tf32 = c.tf32;
  const double tolerance = c.tf32 ? 3e-3 : 1e-4;
  std::vector<int> call_periods;
  int first = -1;
  auto offset = [&](StateKind kind, int j) {
    const int i = layout.Find(kLayer, kind, j);
    return i < 0 ? size_t(0) : layout.tensors()[i].offset;
  };
  for (int j = 0; j < levels; ++j) {
    if (c.periods[j] == 1 && !c.delta_in_rows) continue;
    if (first < 0) first = j;
    const int i = p.count++;
    p.level[i] = j;
    p.period[i] = c.periods[j];
    p.m_offset[i] = offset(StateKind::kMemory, j);
    p.s_offset[i] = offset(StateKind::kMomentum, j);
    p.g_offset[i] = offset(StateKind::kErrorBuffer, j);
    call_periods.push_back(c.periods[j]);
  }

  const std::vector<float> initial = testing::RandomNormal(rng, stride * c.batch, 0.2f);
  DeviceBuffer<float> states = ToDevice(initial);
  const std::vector<int> perm = testing::ShuffledSlots(c.batch, rng);
  DeviceBuffer<float*> ptrs = ToDevice(testing::SlotBases(states.data(), perm, stride, kLead));
  // The reference's copy of every session's buffer, in double.
  std::vector<std::vector<double>> ref(c.batch);
  for (int b = 0; b < c.batch; ++b) {
    ref[b].assign(initial.begin() + perm[b] * stride, initial.begin() + (perm[b] + 1) * stride);
  }
  const std::vector<uint64_t> candidates = PulseCandidates(call_periods, c.tokens);
  std::vector<uint64_t> pulse(c.batch);
  const size_t shift = rng() % candidates.size();
  for (int b = 0; b < c.batch; ++b) pulse[b] = candidates[(b + shift) % candidates.size()];
  ASSERT_FALSE(HasFailure());

  const size_t qkv_stride = c.projection_layout ? 3 * size_t(width) + 4 : width;
  const size_t n_gates = 3 * size_t(levels) * c.heads;
  const size_t gate_stride = c.projection_layout ? n_gates + 5 : n_gates;
  const size_t plane = AlignUp(n + 1);  // a gap after every plane
  for (int chunk = 0; chunk < c.chunks; ++chunk) {
    SCOPED_TRACE(absl::StrCat(c.name, ", chunk ", chunk));
    std::vector<float> q = testing::RandomNormal(rng, n), k = testing::RandomNormal(rng, n);
    testing::NormalizeRows(q, c.dim);
    testing::NormalizeRows(k, c.dim);
    const std::vector<float> v = testing::RandomNormal(rng, n);
    // The device inputs: planes 3, 4, 5 of the activation buffer (planes
    // 0-2 hold attention data), or one projection row per token.
    std::vector<float> qkv = testing::RandomNormal(rng, c.projection_layout ? rows * qkv_stride
                                                                            : 6 * plane);
    const size_t q_at = c.projection_layout ? 0 : 3 * plane;
    const size_t k_at = c.projection_layout ? width : 4 * plane;
    const size_t v_at = c.projection_layout ? 2 * width : 5 * plane;
    for (size_t r = 0; r < rows; ++r) {
      std::copy_n(&q[r * width], width, &qkv[q_at + r * qkv_stride]);
      std::copy_n(&k[r * width], width, &qkv[k_at + r * qkv_stride]);
      std::copy_n(&v[r * width], width, &qkv[v_at + r * qkv_stride]);
    }
    // Gates as sigmoid outputs: alpha in (0.5, 1), theta and eta in (0, 1).
    std::vector<float> gates = testing::RandomUniform(rng, rows * gate_stride, 0.0f, 1.0f);
    for (size_t r = 0; r < rows; ++r) {
      for (size_t i = 0; i < size_t(levels) * c.heads; ++i) {
        gates[r * gate_stride + i] = 0.5f + 0.5f * gates[r * gate_stride + i];
      }
    }
    DeviceBuffer<float> d_qkv = ToDevice(qkv);
    DeviceBuffer<float> d_gates = ToDevice(gates);
    DeviceBuffer<uint64_t> d_pulse = ToDevice(pulse);
    DeviceBuffer<float> ys = Poisoned(levels * plane + kYGuard);
    ASSERT_FALSE(HasFailure());

    p.states = ptrs.data();
    p.pulse = d_pulse.data();
    p.q = d_qkv.data() + q_at;
    p.k = d_qkv.data() + k_at;
    p.v = d_qkv.data() + v_at;
    p.qkv_stride = qkv_stride;
    p.gates = d_gates.data();
    p.gate_stride = gate_stride;
    p.y = ys.data() + first * plane;
    p.y_plane = plane;
    const absl::Status s = CmsSlow(p, nullptr);
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

    const std::vector<double> qd = ToDouble(q), kd = ToDouble(k), vd = ToDouble(v);
    const std::vector<double> gd = ToDouble(gates);
    std::vector<std::vector<double>> want_y(p.count, std::vector<double>(n));
    for (int b = 0; b < c.batch; ++b) {
      const size_t r0 = size_t(b) * c.tokens;
      for (int i = 0; i < p.count; ++i) {
        const int j = p.level[i];
        double* base = ref[b].data() + kLead;
        for (int h = 0; h < c.heads; ++h) {
          reference::CmsHeadInputs in;
          in.dim = c.dim;
          in.period = p.period[i];
          in.first_pulse = pulse[b];
          in.tokens = c.tokens;
          in.q = &qd[r0 * width + h * c.dim];
          in.k = &kd[r0 * width + h * c.dim];
          in.v = &vd[r0 * width + h * c.dim];
          in.qkv_stride = width;
          in.alpha = &gd[r0 * gate_stride + (0 * levels + j) * c.heads + h];
          in.theta = &gd[r0 * gate_stride + (1 * levels + j) * c.heads + h];
          in.eta = &gd[r0 * gate_stride + (2 * levels + j) * c.heads + h];
          in.gate_stride = gate_stride;
          const bool slow = p.period[i] > 1;
          reference::CmsLevelHead(in, base + p.m_offset[i] + h * dd,
                                  slow ? base + p.s_offset[i] + h * dd : nullptr,
                                  slow ? base + p.g_offset[i] + h * dd : nullptr,
                                  &want_y[i][r0 * width + h * c.dim], width);
        }
      }
    }

    const std::vector<float> got_y = ToHost(ys);
    for (int j = 0; j < levels; ++j) {
      const int i = j - first;
      const absl::Span<const float> y_j = absl::MakeConstSpan(got_y).subspan(j * plane, n);
      if (i < 0 || i >= p.count) {
        EXPECT_TRUE(StillPoisoned(absl::StrCat("y plane ", j, " (not in the call)"), y_j));
      } else {
        EXPECT_TRUE(NormwiseNear(absl::StrCat("y level ", j), y_j,
                                 absl::MakeConstSpan(want_y[i]), tolerance));
      }
      EXPECT_TRUE(StillPoisoned(absl::StrCat("gap after y plane ", j),
                                absl::MakeConstSpan(got_y).subspan(j * plane + n, plane - n)));
    }
    EXPECT_TRUE(StillPoisoned("guard after y",
                              absl::MakeConstSpan(got_y).subspan(levels * plane, kYGuard)));

    // Every advanced tensor against the reference; everything else in the
    // session's buffer (lead, other layer, rings, levels not in the call,
    // S of a period-1 level, trailing guard) bit for bit as it was.
    const std::vector<float> got_states = ToHost(states);
    for (int b = 0; b < c.batch; ++b) {
      std::vector<float> got(got_states.begin() + perm[b] * stride,
                             got_states.begin() + (perm[b] + 1) * stride);
      std::vector<float> orig(initial.begin() + perm[b] * stride,
                              initial.begin() + (perm[b] + 1) * stride);
      for (int i = 0; i < p.count; ++i) {
        const bool slow = p.period[i] > 1;
        const size_t offsets[] = {p.m_offset[i], p.s_offset[i], p.g_offset[i]};
        const char* names[] = {"M", "S", "G"};
        for (int t = 0; t < (slow ? 3 : 1); ++t) {
          const size_t at = kLead + offsets[t];
          EXPECT_TRUE(NormwiseNear(
              absl::StrCat("session ", b, " (pulse ", pulse[b], ") level ", p.level[i], " ",
                           names[t]),
              absl::MakeConstSpan(got).subspan(at, hdd),
              absl::MakeConstSpan(ref[b]).subspan(at, hdd), tolerance));
          std::fill_n(got.begin() + at, hdd, 0.0f);
          std::fill_n(orig.begin() + at, hdd, 0.0f);
        }
      }
      EXPECT_TRUE(BitwiseEqual(absl::StrCat("session ", b, ": state outside the call's tensors"),
                               got, orig));
    }
    for (int b = 0; b < c.batch; ++b) pulse[b] += uint64_t(c.tokens);  // the next chunk
  }
}

INSTANTIATE_TEST_SUITE_P(AwkwardSizes, CmsSlowParityTest,
                         ::testing::Range(0, int(Cases().size())),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return Cases()[info.param].name;
                         });

TEST(CmsSlowValidationTest, RejectsBadShapesAndPointers) {
  // Validation never touches the device, so this runs without a GPU.
  alignas(16) float buf[64] = {};
  float* state_ptr = buf;
  const uint64_t pulse = 0;
  CmsSlowParams good;
  good.batch = 1;
  good.heads = 1;
  good.dim = 4;
  good.tokens = 1;
  good.levels = 2;
  good.count = 1;
  good.level[0] = 1;
  good.period[0] = 8;
  good.states = &state_ptr;
  good.pulse = &pulse;
  good.q = good.k = good.v = buf;
  good.qkv_stride = 4;
  good.gates = buf;
  good.gate_stride = 6;
  good.y = buf + 16;
  good.y_plane = 4;
  // tokens == 0 is a valid call that launches nothing.
  CmsSlowParams p = good;
  p.tokens = 0;
  p.y_plane = 0;
  EXPECT_TRUE(CmsSlow(p, nullptr).ok());

  testing::ExpectEditsRejected<CmsSlowParams>(
      good, [](const CmsSlowParams& q) { return CmsSlow(q, nullptr); },
      {
      {"batch 0", [](CmsSlowParams& q) { q.batch = 0; }},
      {"batch 65536", [](CmsSlowParams& q) { q.batch = 65536; }},
      {"heads 0", [](CmsSlowParams& q) { q.heads = 0; }},
      {"dim 0", [](CmsSlowParams& q) { q.dim = 0; }},
      {"dim 6", [](CmsSlowParams& q) { q.dim = 6; }},
      {"dim 132", [](CmsSlowParams& q) { q.dim = 132; }},
      {"tokens -1", [](CmsSlowParams& q) { q.tokens = -1; }},
      {"count 0", [](CmsSlowParams& q) { q.count = 0; }},
      {"count 17", [](CmsSlowParams& q) { q.count = kCmsMaxLevels + 1; }},
      {"heads * count > 65535",
       [](CmsSlowParams& q) {
         q.heads = 40000;
         q.count = 2;
         q.level[1] = 0;
         q.period[1] = 1;
       }},
      {"level -1", [](CmsSlowParams& q) { q.level[0] = -1; }},
      {"level == levels", [](CmsSlowParams& q) { q.level[0] = 2; }},
      {"period 0", [](CmsSlowParams& q) { q.period[0] = 0; }},
      {"m_offset 2", [](CmsSlowParams& q) { q.m_offset[0] = 2; }},
      {"s_offset 5", [](CmsSlowParams& q) { q.s_offset[0] = 5; }},
      {"g_offset 1", [](CmsSlowParams& q) { q.g_offset[0] = 1; }},
      {"qkv_stride < heads * dim", [](CmsSlowParams& q) { q.qkv_stride = 3; }},
      {"qkv_stride not a multiple of 4", [](CmsSlowParams& q) { q.qkv_stride = 6; }},
      {"gate_stride < 3 * levels * heads", [](CmsSlowParams& q) { q.gate_stride = 5; }},
      {"y_plane < rows * width", [](CmsSlowParams& q) { q.y_plane = 3; }},
      {"null states", [](CmsSlowParams& q) { q.states = nullptr; }},
      {"null pulse", [](CmsSlowParams& q) { q.pulse = nullptr; }},
      {"null q", [](CmsSlowParams& q) { q.q = nullptr; }},
      {"null k", [](CmsSlowParams& q) { q.k = nullptr; }},
      {"null v", [](CmsSlowParams& q) { q.v = nullptr; }},
      {"null gates", [](CmsSlowParams& q) { q.gates = nullptr; }},
      {"null y", [](CmsSlowParams& q) { q.y = nullptr; }},
      {"misaligned q", [](CmsSlowParams& q) { q.q = q.q + 1; }},
      {"misaligned k", [](CmsSlowParams& q) { q.k = q.k + 2; }},
      {"misaligned v", [](CmsSlowParams& q) { q.v = q.v + 3; }},
      {"kSpans with period 1",
       [](CmsSlowParams& q) {
         q.path = CmsSlowPath::kSpans;
         q.period[0] = 1;
       }},
      {"kSpanTiles with period 1",
       [](CmsSlowParams& q) {
         q.path = CmsSlowPath::kSpanTiles;
         q.period[0] = 1;
       }},
      {"kSpanTiles with dim 4", [](CmsSlowParams& q) { q.path = CmsSlowPath::kSpanTiles; }},
      {"kChunks with dim 4", [](CmsSlowParams& q) { q.path = CmsSlowPath::kChunks; }},
      {"kChunks with period 24",
       [](CmsSlowParams& q) {
         q.path = CmsSlowPath::kChunks;
         q.dim = 64;
         q.qkv_stride = 64;
         q.y_plane = 64;
         q.period[0] = 24;
       }},
      });
}

}  // namespace
}  // namespace hecate
