// Benchmark: the decode GEMV (gemv_decode.h) on the base config's four
// projections (12 layers of weights, 764 MB, so every call streams its W
// from HBM), rows 1, 2, 4, 8.
//
// Per row count, each timed as replays of one CUDA graph:
//   - "chain": the 48 GEMVs of a decode step in layer order (qkv+gates with
//     the RMSNorm prologue, Wo with MAG and the residual, W1|W3 with the
//     RMSNorm prologue, W2 with SwiGLU and the residual), with PDL and
//     without, against the floor weights / copy bandwidth; "+prep": the
//     same with MixerPrep in the qkv+gates GEMV's epilogue (gemv_prep.h);
//   - "cublas": the same 48 products through cuBLAS (Sgemv for one row,
//     Sgemm otherwise, as backends/cuda/forward_engine.cc calls them),
//     without the four row-wise stages the chain has fused.
// Then each projection alone (12 calls, PDL): µs per call and GB/s.
// The chains and the projections again with bf16 weights (GemvWeights::
// kBf16, the same values rounded): floor = the bf16 weights (half the
// bytes) / copy bandwidth, GB/s and % of copy for the weights alone.
#include <cublas_v2.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"
#include "kernels/device.h"
#include "kernels/device_buffer.h"
#include "kernels/fused/fused_kernels.h"
#include "kernels/gemv_decode/bf16_weights.h"
#include "kernels/gemv_decode/gemv_decode.h"
#include "kernels/gemv_decode/gemv_prep.h"
#include "kernels/testing/bench_util.h"
#include "runtime/model_config.h"

namespace hecate {
namespace {

struct Projection {
  const char* name;
  int n, k;
  GemvPrologue prologue;
  bool accumulate;
};

absl::Status Run() {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const double gbps = bench_device.copy.best();
  HECATE_ASSIGN_OR_RETURN(const ModelConfig c, ModelConfig::Preset("base"));
  const int dm = c.d_model, ff = c.d_ff, layers = c.n_layers, levels = c.levels();
  const int pc = MixerPrepProjCols(c.n_heads, c.head_dim(), levels);
  const Projection projections[] = {
      {"qkv+gates (norm)", pc, dm, GemvPrologue::kRmsNorm, false},
      {"wo (MAG, +h)", dm, dm, GemvPrologue::kMagGate, true},
      {"w1|w3 (norm)", 2 * ff, dm, GemvPrologue::kRmsNorm, false},
      {"w2 (SwiGLU, +h)", dm, ff, GemvPrologue::kSwiGlu, true}};
  std::mt19937_64 rng(20261203);
  // Weights: [layer][projection], each its own buffer (256-byte aligned).
  std::vector<DeviceBuffer<float>> weights;
  double weight_bytes = 0;
  for (int l = 0; l < layers; ++l) {
    for (const Projection& p : projections) {
      HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> w,
                              DeviceBuffer<float>::Create(size_t(p.k) * p.n));
      HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(w, 0.02f, rng));
      weight_bytes += w.bytes();
      weights.push_back(std::move(w));
    }
  }
  // The same weights in bf16, rows padded to a multiple of 8 columns.
  std::vector<DeviceBuffer<uint16_t>> weights16;
  std::vector<size_t> ldw16;
  double weight16_bytes = 0;
  for (size_t j = 0; j < weights.size(); ++j) {
    const Projection& p = projections[j % 4];
    const size_t ld = (size_t(p.n) + 7) / 8 * 8;
    std::vector<float> host(weights[j].size());
    HECATE_RETURN_IF_ERROR(weights[j].CopyToHost(absl::MakeSpan(host)));
    std::vector<uint16_t> bits(size_t(p.k) * ld, 0);
    for (int r = 0; r < p.k; ++r) {
      const std::vector<uint16_t> row =
          ToBf16(absl::MakeConstSpan(host).subspan(size_t(r) * p.n, p.n));
      std::copy(row.begin(), row.end(), bits.begin() + size_t(r) * ld);
    }
    HECATE_ASSIGN_OR_RETURN(DeviceBuffer<uint16_t> w16,
                            DeviceBuffer<uint16_t>::Create(bits.size()));
    HECATE_RETURN_IF_ERROR(w16.CopyFromHost(absl::MakeConstSpan(bits)));
    weight16_bytes += double(p.k) * p.n * sizeof(uint16_t);
    weights16.push_back(std::move(w16));
    ldw16.push_back(ld);
  }
  constexpr int kMaxRows = 8;
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> h, DeviceBuffer<float>::Create(kMaxRows * dm));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> h0, DeviceBuffer<float>::Create(kMaxRows * dm));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> attn, DeviceBuffer<float>::Create(kMaxRows * dm));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> ys,
                          DeviceBuffer<float>::Create(size_t(levels) * kMaxRows * dm));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> gain, DeviceBuffer<float>::Create(dm));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> proj, DeviceBuffer<float>::Create(kMaxRows * pc));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> h13,
                          DeviceBuffer<float>::Create(size_t(kMaxRows) * 2 * ff));
  HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(h0, 1.0f, rng));
  HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(attn, 1.0f, rng));
  HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(ys, 1.0f, rng));
  HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(gain, 0.5f, 1.5f, rng));
  HECATE_RETURN_IF_ERROR(testing::FillDeviceNormal(h13, 1.0f, rng));
  // MixerPrep's inputs and outputs for the "+prep" chain.
  const int heads = c.n_heads, dim = c.head_dim(), n_gates = 3 * levels * heads;
  const size_t plane = size_t(kMaxRows) * dm;
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> act, DeviceBuffer<float>::Create(6 * plane));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> gates,
                          DeviceBuffer<float>::Create(size_t(kMaxRows) * n_gates));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> gate_bias, DeviceBuffer<float>::Create(n_gates));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> alpha1,
                          DeviceBuffer<float>::Create(size_t(kMaxRows) * heads));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> theta1,
                          DeviceBuffer<float>::Create(size_t(kMaxRows) * heads));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<uint64_t> pulse, DeviceBuffer<uint64_t>::Create(kMaxRows));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<double> inv_freq, DeviceBuffer<double>::Create(dim / 2));
  {
    std::vector<uint64_t> host_pulse(kMaxRows);
    for (int b = 0; b < kMaxRows; ++b) host_pulse[b] = 1000 + 37 * b;
    std::vector<double> host_freq(dim / 2);
    for (int i = 0; i < dim / 2; ++i) host_freq[i] = std::pow(10000.0, -2.0 * i / dim);
    HECATE_RETURN_IF_ERROR(pulse.CopyFromHost(absl::MakeConstSpan(host_pulse)));
    HECATE_RETURN_IF_ERROR(inv_freq.CopyFromHost(absl::MakeConstSpan(host_freq)));
    HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(gate_bias, -3.0f, 3.0f, rng));
  }
  auto prep_params = [&](const GemvDecodeParams& g) {
    GemvPrepParams q;
    q.gemv = g;
    q.prep.batch = g.rows;
    q.prep.tokens = 1;
    q.prep.heads = heads;
    q.prep.dim = dim;
    q.prep.levels = levels;
    q.prep.delta_level = 0;
    q.prep.pulse = pulse.data();
    q.prep.inv_freq = inv_freq.data();
    q.prep.gate_bias = gate_bias.data();
    q.prep.act = act.data();
    q.prep.plane = plane;
    q.prep.gates = gates.data();
    q.prep.alpha1 = alpha1.data();
    q.prep.theta1 = theta1.data();
    return q;
  };

  auto params = [&](int rows, int l, int i, bool pdl, bool bf16 = false) {
    const Projection& p = projections[i];
    GemvDecodeParams g;
    g.rows = rows;
    g.n = p.n;
    g.k = p.k;
    g.prologue = p.prologue;
    if (bf16) {
      g.weights = GemvWeights::kBf16;
      g.w_bf16 = weights16[l * 4 + i].data();
      g.ldw = ldw16[l * 4 + i];
    } else {
      g.w = weights[l * 4 + i].data();
      g.ldw = p.n;
    }
    g.accumulate = p.accumulate;
    g.programmatic = pdl;
    g.gain = gain.data();
    g.y = ys.data();
    g.y_stride = dm;
    g.y_plane = size_t(kMaxRows) * dm;
    g.levels = levels;
    g.scale = c.memory_scale();
    switch (i) {
      case 0:
      case 2:
        g.x = h.data();
        g.x_stride = dm;
        g.out = i == 0 ? proj.data() : h13.data();
        g.out_stride = p.n;
        break;
      case 1:
        g.x = attn.data();
        g.x_stride = dm;
        g.out = h.data();
        g.out_stride = dm;
        break;
      default:
        g.x = h13.data();
        g.x_stride = 2 * ff;
        g.out = h.data();
        g.out_stride = dm;
    }
    return g;
  };

  cublasHandle_t cublas = nullptr;
  if (cublasCreate(&cublas) != CUBLAS_STATUS_SUCCESS) return absl::InternalError("cublasCreate");
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<char> cublas_ws, DeviceBuffer<char>::Create(32 << 20));
  cublasSetWorkspace(cublas, cublas_ws.data(), cublas_ws.bytes());
  cublasSetMathMode(cublas, CUBLAS_DEFAULT_MATH);

  const double floor_us = weight_bytes / (gbps * 1e9) * 1e6;
  std::printf("weights %.1f MB over %d layers; floor %.1f us per step at %.0f GB/s\n",
              weight_bytes / 1e6, layers, floor_us, gbps);
  std::printf("\n%-6s %14s %14s %14s %14s %12s\n", "rows", "+prep pdl us", "chain pdl us",
              "chain us", "cublas us", "best x floor");
  // The 48 GEMVs of a step (qkv+gates through GemvPrep when prep).
  auto chain_of = [&](int rows, bool pdl, bool prep, bool bf16) {
    return [&, rows, pdl, prep, bf16](cudaStream_t stream) -> absl::Status {
      HECATE_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(h.data(), h0.data(), h.bytes(), cudaMemcpyDeviceToDevice, stream));
      for (int l = 0; l < layers; ++l) {
        for (int i = 0; i < 4; ++i) {
          const GemvDecodeParams g = params(rows, l, i, pdl, bf16);
          if (i == 0 && prep) {
            HECATE_RETURN_IF_ERROR(GemvPrep(prep_params(g), stream));
          } else {
            HECATE_RETURN_IF_ERROR(GemvDecode(g, stream));
          }
        }
      }
      return absl::OkStatus();
    };
  };
  for (const int rows : {1, 2, 4, 8}) {
    auto chain = [&](bool pdl, bool prep) { return chain_of(rows, pdl, prep, false); };
    auto cublas_chain = [&](cudaStream_t stream) -> absl::Status {
      cublasSetStream(cublas, stream);
      const float one = 1.0f;
      for (int l = 0; l < layers; ++l) {
        for (int i = 0; i < 4; ++i) {
          const GemvDecodeParams g = params(rows, l, i, false);
          const float beta = g.accumulate ? 1.0f : 0.0f;
          cublasStatus_t s;
          if (rows == 1) {
            s = cublasSgemv(cublas, CUBLAS_OP_N, g.n, g.k, &one, g.w, g.ldw, g.x, 1, &beta,
                            g.out, 1);
          } else {
            s = cublasSgemm(cublas, CUBLAS_OP_N, CUBLAS_OP_N, g.n, rows, g.k, &one, g.w,
                            g.ldw, g.x, g.x_stride, &beta, g.out, g.out_stride);
          }
          if (s != CUBLAS_STATUS_SUCCESS) return absl::InternalError("cuBLAS call failed");
        }
      }
      return absl::OkStatus();
    };
    HECATE_ASSIGN_OR_RETURN(double prep_us,
                            testing::TimeGraphMicrosPerCall(chain(true, true), 1, 30));
    HECATE_ASSIGN_OR_RETURN(double pdl_us,
                            testing::TimeGraphMicrosPerCall(chain(true, false), 1, 30));
    HECATE_ASSIGN_OR_RETURN(double plain_us,
                            testing::TimeGraphMicrosPerCall(chain(false, false), 1, 30));
    HECATE_ASSIGN_OR_RETURN(double cublas_us, testing::TimeGraphMicrosPerCall(cublas_chain, 1, 30));
    std::printf("%-6d %14.1f %14.1f %14.1f %14.1f %12.2f\n", rows, prep_us, pdl_us, plain_us,
                cublas_us, std::min(prep_us, pdl_us) / floor_us);
  }

  // bf16 weights: the same chains; GB/s counts the bf16 weights alone.
  const double floor16_us = weight16_bytes / (gbps * 1e9) * 1e6;
  std::printf("\nbf16 weights %.1f MB; floor %.1f us per step at %.0f GB/s\n",
              weight16_bytes / 1e6, floor16_us, gbps);
  std::printf("%-6s %14s %14s %14s %12s %10s %8s\n", "rows", "+prep pdl us", "chain pdl us",
              "chain us", "best x floor", "GB/s", "% copy");
  for (const int rows : {1, 2, 4, 8}) {
    HECATE_ASSIGN_OR_RETURN(
        double prep_us, testing::TimeGraphMicrosPerCall(chain_of(rows, true, true, true), 1, 30));
    HECATE_ASSIGN_OR_RETURN(
        double pdl_us, testing::TimeGraphMicrosPerCall(chain_of(rows, true, false, true), 1, 30));
    HECATE_ASSIGN_OR_RETURN(double plain_us, testing::TimeGraphMicrosPerCall(
                                                 chain_of(rows, false, false, true), 1, 30));
    const double best = std::min(prep_us, pdl_us);
    const double achieved = weight16_bytes / (best * 1e-6) / 1e9;
    std::printf("%-6d %14.1f %14.1f %14.1f %12.2f %10.0f %7.1f%%\n", rows, prep_us, pdl_us,
                plain_us, best / floor16_us, achieved, 100.0 * achieved / gbps);
  }

  std::printf("\n%-18s %5s %10s %10s %8s\n", "projection (PDL)", "rows", "us/call", "GB/s",
              "% copy");
  for (const bool bf16 : {false, true}) {
    for (int i = 0; i < 4; ++i) {
      for (const int rows : {1, 8}) {
        auto one = [&](cudaStream_t stream) -> absl::Status {
          for (int l = 0; l < layers; ++l) {
            HECATE_RETURN_IF_ERROR(GemvDecode(params(rows, l, i, true, bf16), stream));
          }
          return absl::OkStatus();
        };
        HECATE_ASSIGN_OR_RETURN(double us, testing::TimeGraphMicrosPerCall(one, layers, 30));
        const double bytes = GemvDecodeMinBytes(params(rows, 0, i, true, bf16));
        const double achieved = bytes / (us * 1e-6) / 1e9;
        std::printf("%-18s %5d %10.2f %10.0f %7.1f%%\n",
                    bf16 ? absl::StrCat(projections[i].name, " bf16").c_str()
                         : projections[i].name,
                    rows, us, achieved, 100.0 * achieved / gbps);
      }
    }
  }
  cublasDestroy(cublas);
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

int main() { return hecate::testing::BenchMain("gemv_decode_bench", hecate::Run); }
