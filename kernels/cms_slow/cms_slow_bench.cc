// Benchmark: the slow CMS levels (cms_slow.h) at the `base` config's sizes
// (H = 8, d = 128, periods 1, 8, 64, 512: the three slow levels in one call,
// as backends/cuda/forward_engine.cc makes it; level 1 goes to
// gdr_decode / gdr_prefill there).
//
// Decode-like (T = 1) at B = 1, 64, 256, once at a pulse id where no level
// fires (M read, G read and written) and once where all three fire (S read,
// M and S written too): a CUDA graph of N calls rotating over N state sets
// that together exceed L2, median of replays; µs per call, GB/s over the
// minimum bytes and % of the copy bandwidth measured in the same run.
// Prefill-like (T = 2048 at B = 1 and 4, from pulse 0: 256 + 32 + 4 fires per
// session; and short chunks T = 2 to 64 at B = 1, where kCmsSpanMinTokens
// picks the kernel), on the row kernel and on both span-wise ones: events,
// median of repeats; µs, M tokens/s, the FLOP rate (the recurrence is
// serial in tokens or spans, so this is latency-bound rather than limited
// by bandwidth) and GB/s.
#include <cstdio>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cms_slow/cms_slow.h"
#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/bench_util.h"
#include "runtime/model_config.h"

namespace hecate {
namespace {

// Inputs and the parameter block of one call shape.
struct Setup {
  DeviceBuffer<float> qkv, gates, y;
  DeviceBuffer<uint64_t> pulse;
  CmsSlowParams p;
  size_t state_floats = 0;  // per session: M, S, G of every slow level
};

absl::StatusOr<Setup> MakeSetup(const ModelConfig& c, int batch, int tokens, uint64_t pulse,
                                std::mt19937_64& rng) {
  Setup s;
  const int heads = c.n_heads, d = c.head_dim(), levels = c.levels(), dm = c.d_model;
  const size_t hdd = size_t(heads) * d * d, rows = size_t(batch) * tokens;
  CmsSlowParams& p = s.p;
  p.batch = batch;
  p.heads = heads;
  p.dim = d;
  p.tokens = tokens;
  p.levels = levels;
  for (int j = 0; j < levels; ++j) {
    if (c.periods[j] == 1) continue;
    const int i = p.count++;
    p.level[i] = j;
    p.period[i] = c.periods[j];
    p.m_offset[i] = (3 * i + 0) * hdd;
    p.s_offset[i] = (3 * i + 1) * hdd;
    p.g_offset[i] = (3 * i + 2) * hdd;
  }
  s.state_floats = 3 * size_t(p.count) * hdd;
  HECATE_ASSIGN_OR_RETURN(auto qkv, DeviceBuffer<float>::Create(3 * rows * dm));
  HECATE_ASSIGN_OR_RETURN(auto gates, DeviceBuffer<float>::Create(rows * 3 * levels * heads));
  HECATE_ASSIGN_OR_RETURN(auto y, DeviceBuffer<float>::Create(p.count * rows * dm));
  HECATE_ASSIGN_OR_RETURN(auto pul, DeviceBuffer<uint64_t>::Create(batch));
  const float inv = 1.7f / 11.3137f;  // about unit-norm keys and queries
  HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(qkv, -inv, inv, rng));
  // Gates are sigmoid outputs; below 0.95 alpha and eta keep the memories
  // bounded over the repeats (docs/MODEL.md on boundedness).
  HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(gates, 0.01f, 0.95f, rng));
  HECATE_RETURN_IF_ERROR(pul.CopyFromHost(std::vector<uint64_t>(batch, pulse)));
  s.qkv = std::move(qkv);
  s.gates = std::move(gates);
  s.y = std::move(y);
  s.pulse = std::move(pul);
  p.pulse = s.pulse.data();
  p.q = s.qkv.data();
  p.k = p.q + rows * dm;
  p.v = p.k + rows * dm;
  p.qkv_stride = dm;
  p.gates = s.gates.data();
  p.gate_stride = 3 * size_t(levels) * heads;
  p.y = s.y.data();
  p.y_plane = rows * dm;
  return s;
}

// Minimum bytes of one call: every level's M read and G read and written;
// S read and M, S written where the level fires in the call; inputs read and
// reads written once.
double MinBytes(const CmsSlowParams& p, uint64_t pulse) {
  const double hdd = double(p.heads) * p.dim * p.dim, rows = double(p.tokens);
  double floats = 0;
  for (int i = 0; i < p.count; ++i) {
    const uint64_t first_fire = uint64_t(p.period[i] - 1) - pulse % uint64_t(p.period[i]);
    const bool fires = first_fire < uint64_t(p.tokens);
    floats += hdd * (fires ? 6 : 3);
  }
  const double width = double(p.heads) * p.dim;
  floats += rows * (3 * width + 3.0 * p.count * p.heads + p.count * width);
  return floats * p.batch * 4;
}

// Useful FLOPs: per token, level and head 2d^2 each for M k, G += e k^T and
// M q; 4d^2 per fire (S = eta S - G, M = alpha M + S).
double Flops(const CmsSlowParams& p, uint64_t pulse) {
  const double dd = double(p.dim) * p.dim;
  double fires = 0;
  for (int i = 0; i < p.count; ++i) {
    for (int t = 0; t < p.tokens; ++t) fires += (pulse + t + 1) % uint64_t(p.period[i]) == 0;
  }
  return double(p.batch) * p.heads * (6 * dd * p.tokens * p.count + 4 * dd * fires);
}

absl::Status Run() {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const DeviceInfo* info = &bench_device.info;
  const testing::CopyBandwidth* copy = &bench_device.copy;
  HECATE_ASSIGN_OR_RETURN(ModelConfig base, ModelConfig::Preset("base"));
  std::mt19937_64 rng(20261123);
  auto fill_states = [&rng](DeviceBuffer<float>& buf) {
    return testing::FillDeviceUniform(buf, -0.05f, 0.05f, rng);
  };

  struct DecodeRow {
    int batch, sets;
    const char* fires;
    double us, gbps, pct;
  };
  std::vector<DecodeRow> decode;
  for (int batch : {1, 64, 256}) {
    for (uint64_t pulse : {uint64_t(0), uint64_t(511)}) {
      HECATE_ASSIGN_OR_RETURN(Setup s, MakeSetup(base, batch, 1, pulse, rng));
      const int sets =
          testing::RotationSets(s.state_floats * batch * sizeof(float), info->l2_cache_bytes, 64);
      std::vector<testing::SessionStates> states;
      for (int k = 0; k < sets; ++k) {
        HECATE_ASSIGN_OR_RETURN(testing::SessionStates st,
                                testing::MakeSessionStates(batch, s.state_floats, fill_states));
        states.push_back(std::move(st));
      }
      auto rotate = [&](cudaStream_t stream) -> absl::Status {
        for (int k = 0; k < sets; ++k) {
          CmsSlowParams p = s.p;
          p.states = states[k].bases.data();
          HECATE_RETURN_IF_ERROR(CmsSlow(p, stream));
        }
        return absl::OkStatus();
      };
      HECATE_ASSIGN_OR_RETURN(double us, testing::TimeGraphMicrosPerCall(rotate, sets, 30));
      const double gbps = MinBytes(s.p, pulse) / (us * 1e3);
      decode.push_back(
          {batch, sets, pulse == 0 ? "none" : "all", us, gbps, 100.0 * gbps / copy->best()});
    }
  }

  struct PrefillRow {
    const char* path;
    int batch, tokens;
    double us, mtok, gflops, gbps;
  };
  std::vector<PrefillRow> prefill;
  const std::pair<int, int> shapes[] = {{1, 2},  {1, 4},    {1, 8},   {1, 16},
                                        {1, 64}, {1, 2048}, {4, 2048}};
  for (const auto& [batch, tokens] : shapes) {
    HECATE_ASSIGN_OR_RETURN(Setup s, MakeSetup(base, batch, tokens, 0, rng));
    HECATE_ASSIGN_OR_RETURN(testing::SessionStates st,
                            testing::MakeSessionStates(batch, s.state_floats, fill_states));
    s.p.states = st.bases.data();
    // rows, spans, tiles, tiles in TF32, chunks, chunks in TF32
    for (int variant = 0; variant < 6; ++variant) {
      const CmsSlowPath path = variant == 0   ? CmsSlowPath::kRows
                               : variant == 1 ? CmsSlowPath::kSpans
                               : variant <= 3 ? CmsSlowPath::kSpanTiles
                                              : CmsSlowPath::kChunks;
      CmsSlowParams p = s.p;
      p.path = path;
      p.tf32 = variant == 3 || variant == 5;
      HECATE_ASSIGN_OR_RETURN(
          double us, testing::TimeEventsMicrosPerCall(
                         [&](cudaStream_t stream) { return CmsSlow(p, stream); }, 1, 15));
      const char* names[] = {"rows", "spans", "tiles", "tiles_tf32", "chunks", "chunks_tf32"};
      const char* name = names[variant];
      prefill.push_back({name, batch, tokens, us,
                         double(batch) * tokens / us, Flops(p, 0) / (us * 1e3),
                         MinBytes(p, 0) / (us * 1e3)});
    }
    // The span tiles on a subset of the levels: the period-8 level alone
    // (the launch's longest blocks) and the other two, to see what sharing
    // multiprocessors with them costs it.
    if (tokens == 2048) {
      for (int subset = 0; subset < 2; ++subset) {
        CmsSlowParams p = s.p;
        p.path = CmsSlowPath::kSpanTiles;
        const int first = subset == 0 ? 0 : 1;
        p.count = subset == 0 ? 1 : s.p.count - 1;
        for (int i = 0; i < p.count; ++i) {
          p.level[i] = s.p.level[first + i];
          p.period[i] = s.p.period[first + i];
          p.m_offset[i] = s.p.m_offset[first + i];
          p.s_offset[i] = s.p.s_offset[first + i];
          p.g_offset[i] = s.p.g_offset[first + i];
        }
        HECATE_ASSIGN_OR_RETURN(
            double us, testing::TimeEventsMicrosPerCall(
                           [&](cudaStream_t stream) { return CmsSlow(p, stream); }, 1, 15));
        prefill.push_back({subset == 0 ? "tiles_8" : "tiles_rest", batch, tokens, us,
                           double(batch) * tokens / us, Flops(p, 0) / (us * 1e3),
                           MinBytes(p, 0) / (us * 1e3)});
      }
    }
  }

  std::printf("\ncms_slow: base H=%d d=%d, slow levels (8, 64, 512), fp32\n", base.n_heads,
              base.head_dim());
  std::printf("decode (T=1), graph replay\n%6s %5s %7s %10s %10s %9s\n", "B", "sets", "fires",
              "us/call", "GB/s", "%copy");
  for (const DecodeRow& r : decode) {
    std::printf("%6d %5d %7s %10.2f %10.0f %8.1f%%\n", r.batch, r.sets, r.fires, r.us, r.gbps,
                r.pct);
  }
  std::printf("prefill from pulse 0, events (median)\n%10s %6s %6s %10s %12s %10s %10s\n",
              "kernel", "B", "T", "us/call", "M tokens/s", "GFLOP/s", "GB/s");
  for (const PrefillRow& r : prefill) {
    std::printf("%10s %6d %6d %10.1f %12.2f %10.1f %10.1f\n", r.path, r.batch, r.tokens, r.us,
                r.mtok, r.gflops, r.gbps);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

int main() { return hecate::testing::BenchMain("cms_slow_bench", hecate::Run); }
