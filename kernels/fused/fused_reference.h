// fused_reference.h: docs/MODEL.md's definition of the stages in fused.h,
// in double on the host, written from the spec (not from the kernels). The
// parity test (fused_test.cc) compares the kernels with it; it is itself
// proven against the CPU backend by model_reference_test.cc, which composes
// it with the cms_slow and swa_prefill references into the whole forward
// pass.
//
// Activations are double; model parameters (embedding, gains, biases) are
// the float32 tensors the model stores. Row r of a call covering `batch`
// sessions x `tokens` tokens is session r / tokens, token r % tokens, at
// position pulse[session] + token.
#ifndef HECATE_KERNELS_FUSED_FUSED_REFERENCE_H_
#define HECATE_KERNELS_FUSED_FUSED_REFERENCE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace hecate {
namespace reference {

double Sigmoid(double x);
double Silu(double x);

// [rows, width]: embed[tokens[r], :].
std::vector<double> EmbedGather(absl::Span<const uint8_t> tokens, const float* embed,
                                int width);

// [rows, width]: x / sqrt(mean(x^2) + 1e-6) * gain, row r of x at
// in + r * in_stride.
std::vector<double> RmsNorm(int rows, int width, const double* in, size_t in_stride,
                            const float* gain);

// The stage between the fused projection and the mixers. Each tensor is
// [rows, heads * dim] (gates: [rows, 3 * levels * heads]).
struct MixerPrepResult {
  std::vector<double> qa, ka, va;  // attention q, k after RoPE; v
  std::vector<double> mq, mk, mv;  // l2norm(silu(qm)), l2norm(silu(km)), silu(vm)
  std::vector<double> gates;       // sigmoid(z + bias), [alpha | theta | eta]
};
// proj row r at proj + r * proj_stride: qa | ka | va | qm | km | vm (heads *
// dim each) | z (3 * levels * heads). RoPE: rotate-half per head, angle
// pos * 10000^(-2i/dim) in double.
MixerPrepResult MixerPrep(int batch, int tokens, int heads, int dim, int levels,
                          absl::Span<const uint64_t> pulse, const double* proj,
                          size_t proj_stride, const float* gate_bias);

// [rows, width]: attn * sigmoid(scale * sum_j y_j), level j of y at
// y + j * plane.
std::vector<double> MagGate(int rows, int width, int levels, double scale,
                            const double* attn, const double* y, size_t plane);

// [rows, ff]: silu(h[r, f]) * h[r, ff + f], h being [rows, 2 * ff].
std::vector<double> SwiGlu(int rows, int ff, const double* h);

}  // namespace reference
}  // namespace hecate

#endif  // HECATE_KERNELS_FUSED_FUSED_REFERENCE_H_
