// Elementwise and reduction steps of the forward pass (docs/MODEL.md), for
// the CPU reference backend. Written as plain loops the compiler vectorises.
//
// Definitions the project uses (MODEL.md leaves eps placement open):
//   rmsnorm(x) = x / sqrt(mean(x^2) + 1e-6)
//   l2norm(x)  = x / sqrt(sum(x^2) + 1e-6)
#ifndef HECATE_BACKENDS_CPU_OPS_H_
#define HECATE_BACKENDS_CPU_OPS_H_

#include <cmath>
#include <cstdint>
#include <vector>

namespace hecate::cpu {

constexpr float kNormEps = 1e-6f;
constexpr double kRopeBase = 10000.0;

inline float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float Silu(float x) { return x / (1.0f + std::exp(-x)); }

// out[i] = rmsnorm(x)[i] * gain[i].
void RmsNorm(const float* x, const float* gain, int64_t n, float* out);

// x = l2norm(x), in place.
void L2Normalize(float* x, int64_t n);

float Dot(const float* a, const float* b, int64_t n);

// Rotate-half RoPE at absolute position `pos`: angles pos * base^(-2i/d),
// computed in float64 (pos reaches billions). RopeInverseFrequencies gives
// the d/2 factors base^(-2i/d) once; RopeAngles fills the d/2 cosines and
// sines of one position from them; every head and both q and k at that
// position share them.
std::vector<double> RopeInverseFrequencies(int64_t d);
void RopeAngles(uint64_t pos, const std::vector<double>& inv_freq, float* cos_out,
                float* sin_out);
void ApplyRope(float* x, int64_t d, const float* cos, const float* sin);

}  // namespace hecate::cpu

#endif  // HECATE_BACKENDS_CPU_OPS_H_
