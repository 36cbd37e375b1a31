// Parity of the CUDA backend with the CPU reference (docs/MODEL.md section
// 6): the same model, the same fresh random token stream cut into chunks
// that straddle fire points and wrap the attention ring, logits and every
// state tensor compared after each chunk. The device scratch is NaN-poisoned
// before every step and host outputs are NaN-filled, so an unwritten value
// fails (relative error is +inf for any non-finite value).
//
// bf16 weights (WeightFormat::kBf16): the oracle is the CPU reference on the
// model with the same matrices rounded (weight_format.h), at the fp32 (or
// tf32) tolerance; the chunk test also prints (and bounds) the distance to
// the CPU reference on the original fp32 weights.
#include "backends/cuda/cuda_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cuda/forward_engine.h"
#include "backends/cuda/weight_format.h"
#include "gtest/gtest.h"
#include "kernels/testing/cuda_test_util.h"
#include "runtime/model_state.h"
#include "runtime/test_util.h"

namespace hecate {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

double RelErr(const std::vector<float>& got, const std::vector<float>& want) {
  return testing::RelativeError(absl::MakeConstSpan(got), absl::MakeConstSpan(want));
}

constexpr GemmMode kFp32 = GemmMode::kFp32;
constexpr GemmMode kTf32 = GemmMode::kTf32;
constexpr GemmMode k3xTf32 = GemmMode::k3xTf32;

struct Case {
  std::string name;
  ModelConfig config;
  int max_step_tokens;
  GemmMode gemm;
  double tolerance;
  bool graphs = true;
  WeightFormat weights = WeightFormat::kFp32;
  int min_3xtf32_rows = 128, max_3xtf32_stack_rows = 1024;  // CudaBackendOptions' defaults
};

constexpr int kSplitFromRows = 9;  // 3xtf32 tests of few rows: just past the GEMVs' 8

ModelConfig Preset(const char* name) {
  absl::StatusOr<ModelConfig> c = ModelConfig::Preset(name);
  EXPECT_TRUE(c.ok());
  return *c;
}

// SmallConfig without a period-1 level: every level is a slow one.
ModelConfig NoDeltaConfig() {
  ModelConfig c = testing::SmallConfig();
  c.periods = {2, 6};
  return c;
}

std::vector<Case> Cases() {
  return {
      {"small", testing::SmallConfig(), 2048, kFp32, 1e-4},
      {"small_step64", testing::SmallConfig(), 64, kFp32, 1e-4},
      {"no_delta_level", NoDeltaConfig(), 2048, kFp32, 1e-4},
      {"tiny", Preset("tiny"), 2048, kFp32, 1e-4},
      {"wide_heads", testing::WideHeadsConfig(), 2048, kFp32, 1e-4},
      {"tiny_step48", Preset("tiny"), 48, kFp32, 1e-4},
      {"tiny_tf32", Preset("tiny"), 2048, kTf32, 3e-3},
      {"tiny_no_graphs", Preset("tiny"), 2048, kFp32, 1e-4, /*graphs=*/false},
      // bf16 weights: few-row steps through the bf16 GEMVs, chunks through
      // the widened matrices' GEMMs (small: the projection's rows padded
      // from 460 to 464 columns).
      {"small_bf16w", testing::SmallConfig(), 2048, kFp32, 1e-4, true, WeightFormat::kBf16},
      {"tiny_bf16w", Preset("tiny"), 2048, kFp32, 1e-4, true, WeightFormat::kBf16},
      {"wide_heads_bf16w", testing::WideHeadsConfig(), 2048, kFp32, 1e-4, true,
       WeightFormat::kBf16},
      {"tiny_step48_nograph_bf16w", Preset("tiny"), 48, kFp32, 1e-4, false, WeightFormat::kBf16},
      {"tiny_tf32_bf16w", Preset("tiny"), 2048, kTf32, 3e-3, true, WeightFormat::kBf16},
      // 3xtf32 at the fp32 tolerance: chunks of 130-200 rows stacked, 33-64
      // fp32 SGEMM (default limits); small's odd widths (proj 460, F 100),
      // bf16w's A_lo W + A_hi W; step48: stacked to 32 rows, then 3 GEMMs.
      {"tiny_3xtf32", Preset("tiny"), 2048, k3xTf32, 1e-4},
      {"wide_heads_3xtf32", testing::WideHeadsConfig(), 2048, k3xTf32, 1e-4},
      {"small_3xtf32", testing::SmallConfig(), 2048, k3xTf32, 1e-4},
      {"tiny_step48_nograph_3xtf32", Preset("tiny"), 48, k3xTf32, 1e-4, false,
       WeightFormat::kFp32, kSplitFromRows, 32},
      {"tiny_3xtf32_bf16w", Preset("tiny"), 2048, k3xTf32, 1e-4, true, WeightFormat::kBf16},
      {"tiny_step48_3xtf32_bf16w", Preset("tiny"), 48, k3xTf32, 1e-4, true, WeightFormat::kBf16,
       kSplitFromRows, 32},
  };
}

class CudaBackendParityTest : public ::testing::TestWithParam<Case> {};

struct Worst {
  double logits = 0, state = 0;
  std::string state_tensor;
};

// Compares every state tensor of `got` with `want`; records the worst.
void CompareStates(const ModelState& got, const ModelState& want, double tolerance,
                   const std::string& where, Worst& worst) {
  ASSERT_EQ(got.pulse_id(), want.pulse_id()) << where;
  for (const StateTensor& t : want.layout().tensors()) {
    const absl::Span<const float> g = got.tensor(t), w = want.tensor(t);
    const double err = testing::RelativeError(g, w);
    EXPECT_LT(err, tolerance) << where << " state " << t.name;
    if (err > worst.state) {
      worst.state = err;
      worst.state_tensor = t.name;
    }
  }
}

TEST_P(CudaBackendParityTest, MatchesCpuReferenceOverChunks) {
  HECATE_SKIP_WITHOUT_CUDA();
  const Case& c = GetParam();
  const uint64_t seed = testing::FreshSeed(c.name.c_str());
  std::shared_ptr<const Model> model = testing::SensitiveModel(c.config, seed);
  const bool bf16 = c.weights == WeightFormat::kBf16;
  std::unique_ptr<Backend> cpu = MakeCpuBackend(bf16 ? RoundModelMatricesToBf16(*model) : model);
  // bf16: the original weights too, for the distance the rounding adds.
  std::unique_ptr<Backend> fp32_cpu = bf16 ? MakeCpuBackend(model) : nullptr;
  CudaBackendOptions options;
  options.gemm = c.gemm;
  options.min_3xtf32_rows = c.min_3xtf32_rows;
  options.max_3xtf32_stack_rows = c.max_3xtf32_stack_rows;
  options.weights = c.weights;
  options.max_step_tokens = c.max_step_tokens;
  options.poison_scratch = true;
  options.decode_graphs = c.graphs;
  absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeCudaBackend(model, options);
  ASSERT_TRUE(cuda.ok()) << cuda.status();
  EXPECT_EQ((*cuda)->name(), "cuda");
  EXPECT_EQ((*cuda)->gemm_mode(), c.gemm);
  EXPECT_EQ((*cuda)->tf32(), c.gemm == kTf32);
  EXPECT_EQ((*cuda)->weight_format(), c.weights);

  auto cpu_state = cpu->NewState();
  auto gpu_state = (*cuda)->NewState();
  ASSERT_TRUE(cpu_state.ok() && gpu_state.ok());
  std::unique_ptr<BackendState> fp32_state;
  if (bf16) fp32_state = *fp32_cpu->NewState();

  // Splits straddle fire points (periods 4/8/16...) and wrap the ring
  // (windows 24/128); the upload in the middle jumps to a random pulse id.
  const std::vector<int> splits = {1, 7, 33, 64, 200, 1, 1, 130, -1, 5, 61, 1, 150};
  const std::vector<uint8_t> stream = testing::RandomTokens(1024, seed + 1);
  size_t at = 0;
  Worst worst, from_fp32;  // from_fp32: bf16 against the original weights
  ModelState got(c.config), want(c.config), want_fp32(c.config);
  for (size_t i = 0; i < splits.size(); ++i) {
    const std::string where = absl::StrCat(c.name, " chunk ", i, " (", splits[i], " tokens)");
    if (splits[i] < 0) {
      // Jump to a random state and pulse id (ring phase, fire phase).
      ModelState random(c.config);
      testing::FillRandom(random, seed + 2);
      // Keep memories modest so the stream stays well conditioned.
      for (float& v : random.data()) v *= 0.05f;
      ASSERT_TRUE(cpu->Upload(random, **cpu_state).ok());
      ASSERT_TRUE((*cuda)->Upload(random, **gpu_state).ok());
      if (bf16) {
        ASSERT_TRUE(fp32_cpu->Upload(random, *fp32_state).ok());
      }
      continue;
    }
    const auto chunk = absl::MakeConstSpan(stream).subspan(at, splits[i]);
    at += splits[i];
    const LogitsMode mode = i % 3 == 1 ? LogitsMode::kLast : LogitsMode::kAll;
    std::vector<float> cpu_logits, gpu_logits(3, kNaN);
    ASSERT_TRUE(cpu->Forward(**cpu_state, chunk, mode, &cpu_logits).ok());
    size_t applied = 0;
    absl::Status s = (*cuda)->Forward(**gpu_state, chunk, mode, &gpu_logits, nullptr, &applied);
    ASSERT_TRUE(s.ok()) << where << ": " << s;
    EXPECT_EQ(applied, chunk.size());
    const double logit_err = RelErr(gpu_logits, cpu_logits);
    EXPECT_LT(logit_err, c.tolerance) << where << " logits";
    worst.logits = std::max(worst.logits, logit_err);

    std::fill(got.data().begin(), got.data().end(), kNaN);
    ASSERT_TRUE((*cuda)->Download(**gpu_state, got).ok());
    ASSERT_TRUE(cpu->Download(**cpu_state, want).ok());
    CompareStates(got, want, c.tolerance, where, worst);
    if (bf16) {
      std::vector<float> fp32_logits;
      ASSERT_TRUE(fp32_cpu->Forward(*fp32_state, chunk, mode, &fp32_logits).ok());
      const double err = RelErr(gpu_logits, fp32_logits);
      EXPECT_LT(err, kBf16VsFp32Tolerance) << where << " logits vs fp32 weights";
      from_fp32.logits = std::max(from_fp32.logits, err);
      ASSERT_TRUE(fp32_cpu->Download(*fp32_state, want_fp32).ok());
      CompareStates(got, want_fp32, kBf16VsFp32Tolerance, where + " vs fp32 weights",
                    from_fp32);
    }
  }
  std::printf("PARITY %-16s logits %.3g  state %.3g (%s)  tolerance %.0e\n", c.name.c_str(),
              worst.logits, worst.state, worst.state_tensor.c_str(), c.tolerance);
  if (bf16) {
    // What bf16 storage costs against the fp32 model (weight_format.h: the
    // rounding alone does 2-6e-3 in logits, 4-8e-3 in states on the CPU).
    std::printf("PARITY %-16s vs fp32 weights: logits %.3g  state %.3g (%s)  tolerance %g"
                " (MODEL.md 3e-03 %s)\n",
                c.name.c_str(), from_fp32.logits, from_fp32.state,
                from_fp32.state_tensor.c_str(), kBf16VsFp32Tolerance,
                std::max(from_fp32.logits, from_fp32.state) < 3e-3 ? "met" : "NOT met");
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, CudaBackendParityTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

using States = std::vector<std::unique_ptr<BackendState>>;

// `count` twin sessions on the CPU and the CUDA backend, session b advanced
// by the same random prefix of first + b * stride tokens: different pulse
// ids, fire phases and ring phases.
void StartTwinSessions(Backend& cpu, Backend& cuda, int count, int first, int stride,
                       uint64_t seed, States& cpu_states, States& gpu_states) {
  for (int b = 0; b < count; ++b) {
    cpu_states.push_back(*cpu.NewState());
    gpu_states.push_back(*cuda.NewState());
    const auto prefix = testing::RandomTokens(first + stride * b, seed + 10 + b);
    ASSERT_TRUE(cpu.Forward(*cpu_states[b], prefix, LogitsMode::kNone, nullptr).ok());
    ASSERT_TRUE(cuda.Forward(*gpu_states[b], prefix, LogitsMode::kNone, nullptr).ok());
  }
}

// Every twin's state equals (1e-4) and the PARITY line is printed.
void ExpectTwinStatesMatch(const char* name, const ModelConfig& config, Backend& cpu,
                           Backend& cuda, const States& cpu_states, const States& gpu_states,
                           double worst_logits) {
  double worst_state = 0;
  ModelState got(config), want(config);
  for (size_t b = 0; b < gpu_states.size(); ++b) {
    ASSERT_TRUE(cuda.Download(*gpu_states[b], got).ok());
    ASSERT_TRUE(cpu.Download(*cpu_states[b], want).ok());
    ASSERT_EQ(got.pulse_id(), want.pulse_id());
    const double err = testing::RelativeError(got.data(), want.data());
    EXPECT_LT(err, 1e-4) << "session " << b;
    worst_state = std::max(worst_state, err);
  }
  std::printf("PARITY %-16s logits %.3g  state %.3g  tolerance 1e-04\n", name, worst_logits,
              worst_state);
}

// ForwardBatch: `kSessions` sessions at different pulse ids, decoding
// together (batched steps of at most `max_batch`), equal each session's CPU
// Forward; a multi-token item and a kNone item ride along.
// bf16 weights: against the CPU reference on the rounded model.
void ExpectBatchedDecodeMatchesCpu(const char* name, int kSessions, int max_batch,
                                   WeightFormat weights = WeightFormat::kFp32,
                                   GemmMode gemm = kFp32,
                                   const ModelConfig& config = testing::SmallConfig(),
                                   int min_3xtf32_rows = kSplitFromRows) {
  const uint64_t seed = testing::FreshSeed(name);
  std::shared_ptr<const Model> model = testing::SensitiveModel(config, seed);
  std::unique_ptr<Backend> cpu = MakeCpuBackend(
      weights == WeightFormat::kBf16 ? RoundModelMatricesToBf16(*model) : model);
  CudaBackendOptions options;
  options.poison_scratch = true;  // NaN in the padding rows of a bucketed graph too
  options.max_batch = max_batch;
  options.weights = weights;
  options.gemm = gemm;
  options.min_3xtf32_rows = min_3xtf32_rows;
  absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeCudaBackend(model, options);
  ASSERT_TRUE(cuda.ok()) << cuda.status();

  States cpu_states, gpu_states;
  StartTwinSessions(*cpu, **cuda, kSessions, 3, 11, seed, cpu_states, gpu_states);
  if (::testing::Test::HasFatalFailure()) return;
  double worst_logits = 0;
  for (int step = 0; step < 20; ++step) {
    const auto tokens = testing::RandomTokens(kSessions + 9, seed + 100 + step);
    std::vector<std::vector<float>> cpu_logits(kSessions), gpu_logits(kSessions);
    std::vector<ForwardItem> items(kSessions);
    for (int b = 0; b < kSessions; ++b) {
      gpu_logits[b].assign(5, kNaN);
      items[b].state = gpu_states[b].get();
      // Session 0 takes a 10-token chunk; session 1 wants no logits.
      items[b].tokens = b == 0 ? absl::MakeConstSpan(tokens).subspan(kSessions - 1, 10)
                               : absl::MakeConstSpan(tokens).subspan(b, 1);
      items[b].mode = b == 1 ? LogitsMode::kNone : LogitsMode::kLast;
      items[b].logits = &gpu_logits[b];
      ASSERT_TRUE(
          cpu->Forward(*cpu_states[b], items[b].tokens, items[b].mode, &cpu_logits[b]).ok());
    }
    absl::Status s = (*cuda)->ForwardBatch(absl::MakeSpan(items));
    ASSERT_TRUE(s.ok()) << s;
    for (int b = 0; b < kSessions; ++b) {
      if (b == 1) continue;
      const double err = RelErr(gpu_logits[b], cpu_logits[b]);
      EXPECT_LT(err, 1e-4) << "step " << step << " session " << b;
      worst_logits = std::max(worst_logits, err);
    }
  }
  ExpectTwinStatesMatch(name, config, *cpu, **cuda, cpu_states, gpu_states, worst_logits);
}

TEST(CudaBackendBatchTest, BatchedDecodeMatchesCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectBatchedDecodeMatchesCpu("batched_decode", 8, 4);  // 7 decode items: steps of 4 and 3
}

// 20 sessions, 19 decoding in one step: the graph of bucket 20 runs with one
// padding row (NaN-filled by poison_scratch), which no real row may see.
TEST(CudaBackendBatchTest, PaddedBucketDecodeMatchesCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ASSERT_EQ(DecodeBucket(19, 32), 20);
  ExpectBatchedDecodeMatchesCpu("bucketed_decode", 20, 32);
}

// bf16 weights: steps of 4 and 3 rows through the bf16 GEMVs, and a bucket
// of 20 rows (past the GEMVs' 8) through the widened matrices' GEMMs.
TEST(CudaBackendBatchTest, BatchedDecodeBf16WeightsMatchesRoundedCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectBatchedDecodeMatchesCpu("batched_bf16w", 8, 4, WeightFormat::kBf16);
}

TEST(CudaBackendBatchTest, PaddedBucketDecodeBf16WeightsMatchesRoundedCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectBatchedDecodeMatchesCpu("bucketed_bf16w", 20, 32, WeightFormat::kBf16);
}

// 3xtf32: decode steps of 19 rows (bucket 20, past the GEMVs' 8) through
// the stacked split GEMMs in the decode graphs, at the fp32 tolerance.
TEST(CudaBackendBatchTest, PaddedBucketDecode3xTf32MatchesCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectBatchedDecodeMatchesCpu("bucketed_3xtf32", 20, 32, WeightFormat::kFp32, k3xTf32);
}

TEST(CudaBackendBatchTest, PaddedBucketDecode3xTf32WideHeadsMatchesCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectBatchedDecodeMatchesCpu("bucketed_3xtf32_wide", 20, 32, WeightFormat::kFp32, k3xTf32,
                                testing::WideHeadsConfig());
}

TEST(CudaBackendBatchTest, PaddedBucketDecode3xTf32Bf16WeightsMatchesRoundedCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectBatchedDecodeMatchesCpu("bucketed_3xtf32_bf16w", 20, 32, WeightFormat::kBf16, k3xTf32);
}

// At the default threshold: 129 decode rows (bucket 144 >= 128) stacked.
TEST(CudaBackendBatchTest, WideDecode3xTf32MatchesCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ASSERT_GE(DecodeBucket(129, 160), CudaBackendOptions().min_3xtf32_rows);
  ExpectBatchedDecodeMatchesCpu("wide_decode_3xtf32", 130, 160, WeightFormat::kFp32, k3xTf32,
                                Preset("tiny"), CudaBackendOptions().min_3xtf32_rows);
}

// ForwardBatch groups items of equal length into one step (several
// sessions' prefill side by side): each round, 8 sessions at different
// pulse ids take chunks of 5 (four of them: a group of 3 and one of 1 at
// max_prefill_batch 3), 40 (two: 96 rows hold no third), 1 and 70 (longer than a
// step: alone, in two steps), lengths shuffled over sessions, logits modes
// cycling; every item's logits and every final state equal the CPU's.
void ExpectGroupedForwardMatchesCpu(const char* name, const ModelConfig& config,
                                    WeightFormat weights = WeightFormat::kFp32,
                                    GemmMode gemm = kFp32) {
  const uint64_t seed = testing::FreshSeed(name);
  std::mt19937_64 rng(seed);
  std::shared_ptr<const Model> model = testing::SensitiveModel(config, seed);
  std::unique_ptr<Backend> cpu = MakeCpuBackend(
      weights == WeightFormat::kBf16 ? RoundModelMatricesToBf16(*model) : model);
  CudaBackendOptions options;
  options.poison_scratch = true;
  options.weights = weights;
  options.gemm = gemm;
  options.min_3xtf32_rows = kSplitFromRows;  // 15-96 rows: stacked up to 32
  options.max_3xtf32_stack_rows = 32;
  options.max_step_tokens = 64;
  options.max_step_rows = 96;
  options.max_batch = 4;  // rows: max(64, 4, 96)
  options.max_prefill_batch = 3;
  absl::StatusOr<std::unique_ptr<Backend>> cuda = MakeCudaBackend(model, options);
  ASSERT_TRUE(cuda.ok()) << cuda.status();

  constexpr int kSessions = 8;
  States cpu_states, gpu_states;
  StartTwinSessions(*cpu, **cuda, kSessions, 1, 13, seed, cpu_states, gpu_states);
  if (::testing::Test::HasFatalFailure()) return;
  const LogitsMode kModes[] = {LogitsMode::kLast, LogitsMode::kAll, LogitsMode::kNone};
  double worst_logits = 0;
  for (int round = 0; round < 6; ++round) {
    std::vector<size_t> lengths = {5, 5, 5, 5, 40, 40, 1, 70};
    std::shuffle(lengths.begin(), lengths.end(), rng);
    const auto tokens = testing::RandomTokens(kSessions * 70, seed + 100 + round);
    std::vector<std::vector<float>> cpu_logits(kSessions), gpu_logits(kSessions);
    std::vector<ForwardItem> items(kSessions);
    for (int b = 0; b < kSessions; ++b) {
      gpu_logits[b].assign(3, kNaN);
      items[b].state = gpu_states[b].get();
      items[b].tokens = absl::MakeConstSpan(tokens).subspan(70 * b, lengths[b]);
      items[b].mode = kModes[(b + round) % 3];
      items[b].logits = &gpu_logits[b];
      ASSERT_TRUE(
          cpu->Forward(*cpu_states[b], items[b].tokens, items[b].mode, &cpu_logits[b]).ok());
    }
    absl::Status s = (*cuda)->ForwardBatch(absl::MakeSpan(items));
    ASSERT_TRUE(s.ok()) << s;
    for (int b = 0; b < kSessions; ++b) {
      EXPECT_EQ(gpu_states[b]->pulse_id(), cpu_states[b]->pulse_id()) << "session " << b;
      if (items[b].mode == LogitsMode::kNone) continue;
      ASSERT_EQ(gpu_logits[b].size(), cpu_logits[b].size()) << "session " << b;
      const double err = RelErr(gpu_logits[b], cpu_logits[b]);
      EXPECT_LT(err, 1e-4) << "round " << round << " session " << b << " length "
                           << lengths[b];
      worst_logits = std::max(worst_logits, err);
    }
  }
  ExpectTwinStatesMatch(name, config, *cpu, **cuda, cpu_states, gpu_states, worst_logits);
}

TEST(CudaBackendBatchTest, GroupedPrefillMatchesCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectGroupedForwardMatchesCpu("grouped_small", testing::SmallConfig());
}

// Head width 128: the chunked delta rule's scratch holds every grouped
// session's chunks.
TEST(CudaBackendBatchTest, GroupedPrefillWideHeadsMatchesCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectGroupedForwardMatchesCpu("grouped_wide", testing::WideHeadsConfig());
}

TEST(CudaBackendBatchTest, GroupedPrefillBf16WeightsMatchesRoundedCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectGroupedForwardMatchesCpu("grouped_bf16w", testing::SmallConfig(), WeightFormat::kBf16);
}

// 3xtf32: grouped steps of up to 96 rows through the split GEMMs (both forms).
TEST(CudaBackendBatchTest, GroupedPrefill3xTf32WideHeadsMatchesCpu) {
  HECATE_SKIP_WITHOUT_CUDA();
  ExpectGroupedForwardMatchesCpu("grouped_3xtf32_wide", testing::WideHeadsConfig(),
                                 WeightFormat::kFp32, k3xTf32);
}

}  // namespace
}  // namespace hecate
