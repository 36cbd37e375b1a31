// Proves the kernel parity tests' references before they meet a GPU: the
// double-precision references of kernels/fused, kernels/cms_slow and
// kernels/swa_prefill, composed into docs/MODEL.md's whole forward pass (with
// plain double matrix products for the GEMMs), reproduce the CPU backend's
// logits for every token and every state tensor after the chunk, on random
// "sensitive" models where a wrong coefficient anywhere shows. Runs without
// a GPU.
//
// The references are called exactly as the kernel tests call them (fused
// projection layout qa|ka|va|qm|km|vm|z, gates [alpha | theta | eta]
// levels-major then head, StateLayout offsets), so what is proven here is
// what the GPU tests compare against.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "backends/cpu/cpu_backend.h"
#include "gtest/gtest.h"
#include "kernels/cms_slow/cms_slow_reference.h"
#include "kernels/fused/fused_reference.h"
#include "kernels/swa_prefill/swa_prefill_reference.h"
#include "kernels/testing/parity_util.h"
#include "runtime/model.h"
#include "runtime/model_config.h"
#include "runtime/model_state.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

using testing::NormwiseNear;

// y[r, col0 + n] (+)= x[r, :] @ w, w row-major [k, n]; y row stride ldy.
void MatMul(int rows, int n, int k, const double* x, const float* w, double* y, size_t ldy,
            size_t col0, bool accumulate) {
  std::vector<double> acc(n);
  for (int r = 0; r < rows; ++r) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int i = 0; i < k; ++i) {
      const double xi = x[size_t(r) * k + i];
      const float* wi = w + size_t(i) * n;
      for (int c = 0; c < n; ++c) acc[c] += xi * wi[c];
    }
    double* out = y + size_t(r) * ldy + col0;
    for (int c = 0; c < n; ++c) out[c] = accumulate ? out[c] + acc[c] : acc[c];
  }
}

double* Tensor(const StateLayout& layout, std::vector<double>& state, int layer,
               StateKind kind, int level) {
  const int i = layout.Find(layer, kind, level);
  return i < 0 ? nullptr : state.data() + layout.tensors()[i].offset;
}

// docs/MODEL.md section 2 over one chunk from `state` (canonical layout, in
// double) at pulse id `pulse`; returns the logits of every token [T, V].
std::vector<double> ReferenceForward(const Model& model, std::vector<double>& state,
                                     uint64_t pulse, const std::vector<uint8_t>& tokens) {
  const ModelConfig& c = model.config();
  const StateLayout layout(c);
  const int t = int(tokens.size()), dm = c.d_model, heads = c.n_heads, d = c.head_dim();
  const int levels = c.levels(), f = c.d_ff, n_gates = 3 * levels * heads;
  const int pc = 6 * dm + n_gates;
  const size_t dd = size_t(d) * d, plane = size_t(t) * dm;
  std::vector<double> x = reference::EmbedGather(tokens, model.weights().embed(), dm);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& w = model.weights().layer(l);
    std::vector<double> u = reference::RmsNorm(t, dm, x.data(), dm, w.norm1);
    std::vector<double> proj(size_t(t) * pc);
    MatMul(t, 3 * dm, dm, u.data(), w.attn_wqkv, proj.data(), pc, 0, false);
    MatMul(t, 3 * dm, dm, u.data(), w.mem_wqkv, proj.data(), pc, 3 * dm, false);
    MatMul(t, n_gates, dm, u.data(), w.mem_wgate, proj.data(), pc, 6 * dm, false);
    const reference::MixerPrepResult act = reference::MixerPrep(
        1, t, heads, d, levels, {pulse}, proj.data(), pc, w.mem_bgate);

    std::vector<double> attn(plane);
    double* ring_k = Tensor(layout, state, l, StateKind::kWindowKeys, -1);
    double* ring_v = Tensor(layout, state, l, StateKind::kWindowValues, -1);
    for (int h = 0; h < heads; ++h) {
      reference::SwaHeadInputs in;
      in.dim = d;
      in.window = c.window;
      in.first_pulse = pulse;
      in.tokens = t;
      in.scale = 1.0 / std::sqrt(double(d));
      in.q = act.qa.data() + h * d;
      in.k = act.ka.data() + h * d;
      in.v = act.va.data() + h * d;
      in.qkv_stride = dm;
      const size_t ring = size_t(h) * c.window * d;
      reference::SwaPrefillHead(in, ring_k + ring, ring_v + ring, attn.data() + h * d, dm);
    }

    std::vector<double> ys(levels * plane);
    for (int j = 0; j < levels; ++j) {
      double* m = Tensor(layout, state, l, StateKind::kMemory, j);
      double* s = Tensor(layout, state, l, StateKind::kMomentum, j);
      double* g = Tensor(layout, state, l, StateKind::kErrorBuffer, j);
      for (int h = 0; h < heads; ++h) {
        reference::CmsHeadInputs in;
        in.dim = d;
        in.period = c.periods[j];
        in.first_pulse = pulse;
        in.tokens = t;
        in.q = act.mq.data() + h * d;
        in.k = act.mk.data() + h * d;
        in.v = act.mv.data() + h * d;
        in.qkv_stride = dm;
        in.alpha = act.gates.data() + (0 * levels + j) * heads + h;
        in.theta = act.gates.data() + (1 * levels + j) * heads + h;
        in.eta = act.gates.data() + (2 * levels + j) * heads + h;
        in.gate_stride = n_gates;
        reference::CmsLevelHead(in, m + h * dd, s + h * dd, g ? g + h * dd : nullptr,
                                ys.data() + j * plane + h * d, dm);
      }
    }
    const double scale = levels > 2 ? 1.0 / std::sqrt(double(levels)) : 1.0;
    const std::vector<double> gated =
        reference::MagGate(t, dm, levels, scale, attn.data(), ys.data(), plane);
    MatMul(t, dm, dm, gated.data(), w.wo, x.data(), dm, 0, true);

    const std::vector<double> u2 = reference::RmsNorm(t, dm, x.data(), dm, w.norm2);
    std::vector<double> h13(size_t(t) * 2 * f);
    MatMul(t, f, dm, u2.data(), w.w1, h13.data(), 2 * f, 0, false);
    MatMul(t, f, dm, u2.data(), w.w3, h13.data(), 2 * f, f, false);
    const std::vector<double> hidden = reference::SwiGlu(t, f, h13.data());
    MatMul(t, dm, f, hidden.data(), w.w2, x.data(), dm, 0, true);
  }
  const std::vector<double> xn =
      reference::RmsNorm(t, dm, x.data(), dm, model.weights().norm_f());
  std::vector<double> logits(size_t(t) * c.vocab_size);
  const float* embed = model.weights().embed();
  for (int r = 0; r < t; ++r) {
    for (int v = 0; v < c.vocab_size; ++v) {
      double acc = 0;
      for (int i = 0; i < dm; ++i) acc += xn[size_t(r) * dm + i] * embed[size_t(v) * dm + i];
      logits[size_t(r) * c.vocab_size + v] = acc;
    }
  }
  return logits;
}

struct Case {
  std::string name;
  ModelConfig config;
  int warm_tokens;  // CPU tokens from the zero state before the chunk (0: none)
  uint64_t pulse;   // pulse id of the chunk's first token
  int tokens;
};

ModelConfig Tiny() {
  absl::StatusOr<ModelConfig> c = ModelConfig::Preset("tiny");
  return c.ok() ? *c : ModelConfig{};
}

// Periods (1, 4, 16), W = 24, d = 24: fires of both slow levels at the
// chunk's first token and inside it, T > W, a pulse id in the billions.
// From the zero state, T < W. The tiny preset (levels = 2: c = 1) with the
// ring wrapping mid-chunk.
std::vector<Case> Cases() {
  return {
      {"small_billions", hecate::testing::SmallConfig(), 37, 5000000003ull, 44},
      {"small_from_zero", hecate::testing::SmallConfig(), 0, 0, 20},
      {"tiny_wrap", Tiny(), 50, 3 * 128 - 20, 40},
  };
}

class ModelReferenceTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(ModelReferenceTest, ComposedReferencesMatchCpuBackend) {
  const Case c = Cases()[std::get<0>(GetParam())];
  const bool slow_as_matmul = std::get<1>(GetParam());
  ASSERT_TRUE(c.config.Validate().ok()) << c.name;
  std::mt19937_64 rng = testing::FreshRng(c.name.c_str());
  std::shared_ptr<const Model> model = hecate::testing::SensitiveModel(c.config, rng());
  CpuBackendOptions options;
  options.slow_levels_as_matmul = slow_as_matmul;
  std::unique_ptr<Backend> cpu = MakeCpuBackend(model, options);
  absl::StatusOr<std::unique_ptr<BackendState>> state = cpu->NewState();
  ASSERT_TRUE(state.ok());

  // A state the model itself produced, then moved to the case's pulse id.
  ModelState initial(c.config);
  if (c.warm_tokens > 0) {
    ASSERT_TRUE(cpu->Forward(**state, hecate::testing::RandomTokens(c.warm_tokens, rng()),
                             LogitsMode::kNone, nullptr)
                    .ok());
    ASSERT_TRUE(cpu->Download(**state, initial).ok());
  }
  initial.set_pulse_id(c.pulse);
  ASSERT_TRUE(cpu->Upload(initial, **state).ok());

  const std::vector<uint8_t> tokens = hecate::testing::RandomTokens(c.tokens, rng());
  std::vector<float> got_logits;
  ASSERT_TRUE(cpu->Forward(**state, tokens, LogitsMode::kAll, &got_logits).ok());
  ModelState got(c.config);
  ASSERT_TRUE(cpu->Download(**state, got).ok());
  ASSERT_EQ(got.pulse_id(), c.pulse + c.tokens);

  std::vector<double> want_state(initial.data().begin(), initial.data().end());
  const std::vector<double> want_logits =
      ReferenceForward(*model, want_state, c.pulse, tokens);
  EXPECT_TRUE(NormwiseNear(c.name + " logits", got_logits, want_logits, 1e-4));
  for (const StateTensor& t : got.layout().tensors()) {
    const absl::Span<const float> g = got.tensor(t);
    const absl::Span<const double> w(want_state.data() + t.offset, t.size);
    EXPECT_TRUE(NormwiseNear(absl::StrCat(c.name, " ", t.name), g, w, 1e-4));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, ModelReferenceTest,
    ::testing::Combine(::testing::Range(0, int(Cases().size())), ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<int, bool>>& info) {
      return Cases()[std::get<0>(info.param)].name +
             (std::get<1>(info.param) ? "_spans" : "_loop");
    });

}  // namespace
}  // namespace hecate
