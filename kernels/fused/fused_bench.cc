// Benchmark: the fused stages (fused.h) at the `base` config's sizes
// (D = 1024, H = 8, d = 128, 4 levels, F = 2752), for decode-like calls of
// B = 1, 64, 256 rows and a prefill-like call of T = 2048 rows.
//
// Timed like gdr_decode_bench: a CUDA graph of N calls rotating over N
// buffer sets that together exceed L2 (so data comes from HBM, as in the
// forward pass where every stage reads what a GEMM just wrote elsewhere),
// median of replays. Reported: µs per call, GB/s over the minimum bytes
// (every input read once, every output written once), and that as % of the
// device-to-device copy bandwidth measured in the same run. These stages are
// memory-bound; at B = 1 the time is launch latency.
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/device_buffer.h"
#include "kernels/fused/fused.h"
#include "kernels/testing/bench_util.h"
#include "runtime/model_config.h"

namespace hecate {
namespace {

size_t AlignUp(size_t n) { return (n + 63) / 64 * 64; }

// One stage at one size: `call` runs it on the buffer set at `set`.
struct Op {
  std::string name;
  size_t set_floats;  // floats per buffer set
  double min_bytes;   // per call
  std::function<absl::Status(float* set, cudaStream_t)> call;
};

struct Row {
  std::string op, size;
  int sets;
  double us, gbps, pct;
};

absl::Status Measure(const Op& op, const std::string& size, const DeviceInfo& info,
                     double copy_gbps, std::mt19937_64& rng, std::vector<Row>& rows) {
  const size_t set_floats = AlignUp(op.set_floats);
  const int sets = testing::RotationSets(set_floats * sizeof(float), info.l2_cache_bytes, 64);
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> arena,
                          DeviceBuffer<float>::Create(sets * set_floats));
  HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(arena, 1.0f, rng));
  float* base = arena.data();
  auto rotate = [&](cudaStream_t stream) -> absl::Status {
    for (int s = 0; s < sets; ++s) HECATE_RETURN_IF_ERROR(op.call(base + s * set_floats, stream));
    return absl::OkStatus();
  };
  HECATE_ASSIGN_OR_RETURN(double us, testing::TimeGraphMicrosPerCall(rotate, sets, 30));
  const double gbps = op.min_bytes / (us * 1e3);
  rows.push_back({op.name, size, sets, us, gbps, 100.0 * gbps / copy_gbps});
  return absl::OkStatus();
}

absl::Status Run() {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const DeviceInfo* info = &bench_device.info;
  const testing::CopyBandwidth* copy = &bench_device.copy;

  HECATE_ASSIGN_OR_RETURN(ModelConfig base, ModelConfig::Preset("base"));
  const int dm = base.d_model, heads = base.n_heads, d = base.head_dim();
  const int levels = base.levels(), ff = base.d_ff, vocab = base.vocab_size;
  const int n_gates = 3 * levels * heads;
  const size_t pc = MixerPrepProjCols(heads, d, levels);
  int delta_level = -1;
  for (int j = 0; j < levels; ++j) {
    if (base.periods[j] == 1) delta_level = j;
  }
  const float scale = levels > 2 ? float(1.0 / std::sqrt(double(levels))) : 1.0f;
  std::mt19937_64 rng(20261123);

  // Parameters and per-row tables, shared by every buffer set.
  const int max_rows = 2048;
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> params,
                          DeviceBuffer<float>::Create(size_t(vocab) * dm + 2 * dm + n_gates));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<uint8_t> tokens, DeviceBuffer<uint8_t>::Create(max_rows));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<uint64_t> pulse, DeviceBuffer<uint64_t>::Create(max_rows));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<double> inv_freq, DeviceBuffer<double>::Create(d / 2));
  HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(params, 1.0f, rng));
  std::vector<uint8_t> host_tokens(max_rows);
  for (uint8_t& t : host_tokens) t = uint8_t(rng() & 0xFF);
  HECATE_RETURN_IF_ERROR(tokens.CopyFromHost(host_tokens));
  std::vector<uint64_t> host_pulse(max_rows);
  for (int b = 0; b < max_rows; ++b) host_pulse[b] = 100000 + 7 * b;
  HECATE_RETURN_IF_ERROR(pulse.CopyFromHost(host_pulse));
  std::vector<double> host_freq(d / 2);
  for (int i = 0; i < d / 2; ++i) host_freq[i] = std::pow(10000.0, -2.0 * i / d);
  HECATE_RETURN_IF_ERROR(inv_freq.CopyFromHost(host_freq));
  const float* embed = params.data();
  const float* gain = embed + size_t(vocab) * dm;
  const float* bias = gain + 2 * dm;

  struct Size {
    const char* label;
    int batch, tokens;
  };
  const Size sizes[] = {{"B=1", 1, 1}, {"B=64", 64, 1}, {"B=256", 256, 1}, {"T=2048", 1, 2048}};
  std::vector<Row> rows;
  for (const Size& sz : sizes) {
    const int r = sz.batch * sz.tokens;
    const size_t n = size_t(r) * dm, plane = AlignUp(n);
    const uint8_t* tok = tokens.data();
    const uint64_t* pul = pulse.data();
    const double* freq = inv_freq.data();
    std::vector<Op> ops;
    ops.push_back({"EmbedGather", n, (2.0 * n) * 4 + r,
                   [=](float* s, cudaStream_t st) {
                     return EmbedGather(EmbedGatherParams{r, dm, tok, embed, s}, st);
                   }});
    ops.push_back({"RmsNorm", 2 * n, (2.0 * n + dm) * 4, [=](float* s, cudaStream_t st) {
                     return RmsNorm(RmsNormParams{r, dm, s, size_t(dm), gain, s + n}, st);
                   }});
    const size_t gates_at = AlignUp(size_t(r) * pc) + 6 * plane;
    const size_t alpha_at = gates_at + AlignUp(size_t(r) * n_gates);
    const size_t theta_at = alpha_at + AlignUp(size_t(r) * heads);
    ops.push_back({"MixerPrep", theta_at + size_t(r) * heads,
                   (double(r) * (6 * dm + n_gates) + 6.0 * n + double(r) * n_gates +
                    2.0 * r * heads + n_gates) * 4 + r * 8.0,
                   [=](float* s, cudaStream_t st) {
                     MixerPrepParams p;
                     p.batch = sz.batch;
                     p.tokens = sz.tokens;
                     p.heads = heads;
                     p.dim = d;
                     p.levels = levels;
                     p.delta_level = delta_level;
                     p.pulse = pul;
                     p.inv_freq = freq;
                     p.proj = s;
                     p.proj_stride = pc;
                     p.gate_bias = bias;
                     p.act = s + AlignUp(size_t(r) * pc);
                     p.plane = plane;
                     p.gates = s + gates_at;
                     p.alpha1 = s + alpha_at;
                     p.theta1 = s + theta_at;
                     return MixerPrep(p, st);
                   }});
    ops.push_back({"MagGate", plane + levels * plane, (2.0 + levels) * n * 4,
                   [=](float* s, cudaStream_t st) {
                     return MagGate(MagGateParams{r, dm, levels, scale, s, s + plane, plane}, st);
                   }});
    ops.push_back({"SwiGlu", size_t(r) * 2 * ff, 3.0 * r * ff * 4,
                   [=](float* s, cudaStream_t st) { return SwiGlu(SwiGluParams{r, ff, s}, st); }});
    for (const Op& op : ops) {
      HECATE_RETURN_IF_ERROR(Measure(op, sz.label, *info, copy->best(), rng, rows));
    }
  }

  std::printf("\nfused: base D=%d H=%d d=%d levels=%d F=%d, fp32, graph replay\n", dm, heads,
              d, levels, ff);
  std::printf("%-12s %7s %5s %10s %10s %9s\n", "op", "rows", "sets", "us/call", "GB/s",
              "%copy");
  for (const Row& r : rows) {
    std::printf("%-12s %7s %5d %10.2f %10.0f %8.1f%%\n", r.op.c_str(), r.size.c_str(), r.sets,
                r.us, r.gbps, r.pct);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

int main() { return hecate::testing::BenchMain("fused_bench", hecate::Run); }
