// fused_kernels.h: the raw launches behind kernels/fused/fused.h.
// Plain C++ so both nvcc and the host compiler read it; no validation here.
//
// Rows: a call covers `batch` sessions x `tokens` tokens; row r is session
// r / tokens, token r % tokens (pulse id pulse[session] + token).
#ifndef HECATE_KERNELS_FUSED_FUSED_KERNELS_H_
#define HECATE_KERNELS_FUSED_FUSED_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace hecate {

// out[r, :] = embed[tokens[r], :].
struct EmbedGatherParams {
  int rows = 0;
  int width = 0;                    // D
  const uint8_t* tokens = nullptr;  // [rows] (device)
  const float* embed = nullptr;     // [V, D]
  float* out = nullptr;             // [rows, D]
};

// out[r, :] = in[r, :] / sqrt(mean(in[r, :]^2) + 1e-6) * gain   (sum in fp64,
// as the CPU reference). Input rows may be strided (e.g. the last token of
// each session); output rows are compact.
struct RmsNormParams {
  int rows = 0;
  int width = 0;
  const float* in = nullptr;
  size_t in_stride = 0;  // floats between input rows
  const float* gain = nullptr;
  float* out = nullptr;  // [rows, width]
};

// Everything between the fused projection GEMM and the two mixers, per row:
//   attention: qa, ka rotated by RoPE at the row's pulse id (fp64 angles),
//              va copied;
//   memory:    mq = l2norm(silu(qm)), mk = l2norm(silu(km)), mv = silu(vm)
//              per head;
//   gates:     sigmoid(z + bias) for all 3 * levels * heads gates, plus the
//              period-1 level's alpha and theta compacted to [rows, heads].
// Columns of the fused projection MixerPrep reads (qa | ka | va | qm | km |
// vm | z): 6 * heads * dim + 3 * levels * heads, rounded up to a multiple of
// 4 so every row starts 16-byte aligned. The backends' weight layout
// (DeviceWeights::ProjCols) and the kernels' tests and benchmarks all use it.
constexpr int MixerPrepProjCols(int heads, int dim, int levels) {
  return (6 * heads * dim + 3 * levels * heads + 3) / 4 * 4;
}

struct MixerPrepParams {
  int batch = 0;
  int tokens = 0;
  int heads = 0;
  int dim = 0;     // head width d (even)
  int levels = 0;
  int delta_level = -1;              // level with period 1, or -1
  const uint64_t* pulse = nullptr;   // [batch] (device)
  const double* inv_freq = nullptr;  // [dim / 2]: 10000^(-2i/d)
  // [rows, proj_stride]: qa | ka | va | qm | km | vm (D each) | z (gates).
  const float* proj = nullptr;
  size_t proj_stride = 0;
  const float* gate_bias = nullptr;  // [3 * levels * heads]
  // Six planes of [rows, D], `plane` floats apart: qa, ka, va, mq, mk, mv.
  float* act = nullptr;
  size_t plane = 0;
  float* gates = nullptr;   // [rows, 3 * levels * heads], activated
  float* alpha1 = nullptr;  // [rows, heads] (when delta_level >= 0)
  float* theta1 = nullptr;  // [rows, heads]
};

// attn[r, i] *= sigmoid(sum_j scale * y_j[r, i]) over `levels` planes of y.
struct MagGateParams {
  int rows = 0;
  int width = 0;
  int levels = 0;
  float scale = 1;  // c = 1/sqrt(levels) when levels > 2, else 1
  float* attn = nullptr;     // [rows, width]
  const float* y = nullptr;  // [levels][rows, width]
  size_t plane = 0;          // floats between levels of y
};

// h[r, f] = silu(h[r, f]) * h[r, F + f] for f < F, in place; h is [rows, 2F].
struct SwiGluParams {
  int rows = 0;
  int ff = 0;  // F
  float* h = nullptr;
};

cudaError_t LaunchEmbedGather(const EmbedGatherParams& p, cudaStream_t stream);
cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);
cudaError_t LaunchMixerPrep(const MixerPrepParams& p, cudaStream_t stream);
cudaError_t LaunchMagGate(const MagGateParams& p, cudaStream_t stream);
cudaError_t LaunchSwiGlu(const SwiGluParams& p, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_FUSED_FUSED_KERNELS_H_
