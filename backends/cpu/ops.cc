#include "backends/cpu/ops.h"

namespace hecate::cpu {

void RmsNorm(const float* x, const float* gain, int64_t n, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / n + kNormEps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * gain[i];
}

void L2Normalize(float* x, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum + kNormEps));
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}

float Dot(const float* a, const float* b, int64_t n) {
  // Eight partial sums let the compiler vectorise without -ffast-math.
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) part[l] += a[i + l] * b[i + l];
  }
  float sum = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

std::vector<double> RopeInverseFrequencies(int64_t d) {
  std::vector<double> inv_freq(static_cast<size_t>(d / 2));
  for (int64_t i = 0; i < d / 2; ++i) {
    inv_freq[i] = std::pow(kRopeBase, -2.0 * static_cast<double>(i) / d);
  }
  return inv_freq;
}

void RopeAngles(uint64_t pos, const std::vector<double>& inv_freq, float* cos_out,
                float* sin_out) {
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const double angle = static_cast<double>(pos) * inv_freq[i];
    cos_out[i] = static_cast<float>(std::cos(angle));
    sin_out[i] = static_cast<float>(std::sin(angle));
  }
}

void ApplyRope(float* x, int64_t d, const float* cos, const float* sin) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    x[i] = x1 * cos[i] - x2 * sin[i];
    x[i + half] = x2 * cos[i] + x1 * sin[i];
  }
}

}  // namespace hecate::cpu
