#include "kernels/fused/fused_reference.h"

#include <cmath>

namespace hecate {
namespace reference {
namespace {

constexpr double kNormEps = 1e-6;
constexpr double kRopeBase = 10000.0;

// x = x / sqrt(sum(x^2) + 1e-6), in place.
void L2Normalize(double* x, int n) {
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += x[i] * x[i];
  const double scale = 1.0 / std::sqrt(sum + kNormEps);
  for (int i = 0; i < n; ++i) x[i] *= scale;
}

// Rotate-half RoPE of one head at absolute position `pos`.
void Rope(const double* in, int dim, uint64_t pos, double* out) {
  const int half = dim / 2;
  for (int i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * std::pow(kRopeBase, -2.0 * i / dim);
    const double c = std::cos(angle), s = std::sin(angle);
    const double x1 = in[i], x2 = in[i + half];
    out[i] = x1 * c - x2 * s;
    out[i + half] = x2 * c + x1 * s;
  }
}

}  // namespace

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double Silu(double x) { return x / (1.0 + std::exp(-x)); }

std::vector<double> EmbedGather(absl::Span<const uint8_t> tokens, const float* embed,
                                int width) {
  std::vector<double> out(tokens.size() * size_t(width));
  for (size_t r = 0; r < tokens.size(); ++r) {
    for (int i = 0; i < width; ++i) out[r * width + i] = embed[size_t(tokens[r]) * width + i];
  }
  return out;
}

std::vector<double> RmsNorm(int rows, int width, const double* in, size_t in_stride,
                            const float* gain) {
  std::vector<double> out(size_t(rows) * width);
  for (int r = 0; r < rows; ++r) {
    const double* x = in + size_t(r) * in_stride;
    double sum = 0;
    for (int i = 0; i < width; ++i) sum += x[i] * x[i];
    const double scale = 1.0 / std::sqrt(sum / width + kNormEps);
    for (int i = 0; i < width; ++i) out[size_t(r) * width + i] = x[i] * scale * gain[i];
  }
  return out;
}

MixerPrepResult MixerPrep(int batch, int tokens, int heads, int dim, int levels,
                          absl::Span<const uint64_t> pulse, const double* proj,
                          size_t proj_stride, const float* gate_bias) {
  const size_t rows = size_t(batch) * tokens, width = size_t(heads) * dim;
  const size_t n_gates = 3 * size_t(levels) * heads;
  MixerPrepResult out;
  for (auto* t : {&out.qa, &out.ka, &out.va, &out.mq, &out.mk, &out.mv}) {
    t->assign(rows * width, 0.0);
  }
  out.gates.assign(rows * n_gates, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    const double* in = proj + r * proj_stride;
    const uint64_t pos = pulse[r / tokens] + r % tokens;
    for (int h = 0; h < heads; ++h) {
      const size_t at = r * width + size_t(h) * dim;
      Rope(in + h * dim, dim, pos, &out.qa[at]);
      Rope(in + width + h * dim, dim, pos, &out.ka[at]);
      for (int i = 0; i < dim; ++i) {
        out.va[at + i] = in[2 * width + h * dim + i];
        out.mq[at + i] = Silu(in[3 * width + h * dim + i]);
        out.mk[at + i] = Silu(in[4 * width + h * dim + i]);
        out.mv[at + i] = Silu(in[5 * width + h * dim + i]);
      }
      L2Normalize(&out.mq[at], dim);
      L2Normalize(&out.mk[at], dim);
    }
    for (size_t g = 0; g < n_gates; ++g) {
      out.gates[r * n_gates + g] = Sigmoid(in[6 * width + g] + double(gate_bias[g]));
    }
  }
  return out;
}

std::vector<double> MagGate(int rows, int width, int levels, double scale,
                            const double* attn, const double* y, size_t plane) {
  const size_t n = size_t(rows) * width;
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    double m = 0;
    for (int j = 0; j < levels; ++j) m += y[j * plane + i];
    out[i] = attn[i] * Sigmoid(scale * m);
  }
  return out;
}

std::vector<double> SwiGlu(int rows, int ff, const double* h) {
  std::vector<double> out(size_t(rows) * ff);
  for (int r = 0; r < rows; ++r) {
    const double* row = h + size_t(r) * 2 * ff;
    for (int f = 0; f < ff; ++f) out[size_t(r) * ff + f] = Silu(row[f]) * row[ff + f];
  }
  return out;
}

}  // namespace reference
}  // namespace hecate
