#include <cstdint>

#include "kernels/tf32_split/tf32_split_kernel.h"

namespace hecate {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxColumnBlocks = 64;
constexpr int kMaxRowBlocks = 65535;
constexpr uint32_t kMask = 0xFFFFE000u;  // TF32 keeps all but the low 13 mantissa bits
constexpr uint32_t kExponent = 0x7F800000u;

// tf32_split_reference.cc's RoundToTf32 on the device: cvt.rna (nearest,
// ties away), then the reference's two rules the instruction does not
// spell out: the dropped bits read as zero, and a finite value that would
// round to infinity is truncated to the largest TF32.
__device__ __forceinline__ float RoundToTf32(float x) {
  const uint32_t b = __float_as_uint(x);
  if ((b & kExponent) == kExponent) return x;  // infinity or NaN, payload kept
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  r &= kMask;
  if ((r & kExponent) == kExponent) r = b & kMask;
  return __uint_as_float(r);
}

__device__ __forceinline__ void Split(float x, float& hi, float& lo) {
  hi = RoundToTf32(x);
  // x - hi is exact; infinities and NaN keep lo = 0 (x rides in hi alone).
  lo = (__float_as_uint(x) & kExponent) == kExponent ? 0.0f : RoundToTf32(__fsub_rn(x, hi));
}

// Rows over blockIdx.y, columns (in units of V floats) over x.
template <int V>
__global__ void Tf32SplitKernel(const float* __restrict__ in, int rows, int units,
                                size_t ld_in, float* __restrict__ hi, float* __restrict__ lo,
                                size_t ld_out) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    const float* row_in = in + size_t(r) * ld_in;
    float* row_hi = hi + size_t(r) * ld_out;
    float* row_lo = lo + size_t(r) * ld_out;
    for (int u = blockIdx.x * blockDim.x + threadIdx.x; u < units; u += gridDim.x * blockDim.x) {
      if constexpr (V == 4) {
        const float4 x = reinterpret_cast<const float4*>(row_in)[u];
        float4 h, l;
        Split(x.x, h.x, l.x);
        Split(x.y, h.y, l.y);
        Split(x.z, h.z, l.z);
        Split(x.w, h.w, l.w);
        reinterpret_cast<float4*>(row_hi)[u] = h;
        reinterpret_cast<float4*>(row_lo)[u] = l;
      } else {
        Split(row_in[u], row_hi[u], row_lo[u]);
      }
    }
  }
}

// The rounding order AddTf32Products (tf32_split_reference.h) fixes:
// explicit _rn intrinsics so nvcc contracts nothing into an FMA.
__device__ __forceinline__ float AddProducts(float c, float beta, float lo, float hi) {
  const float base = beta == 0.0f ? 0.0f : __fmul_rn(beta, c);
  return __fadd_rn(__fadd_rn(base, lo), hi);
}

// Same grid layout as Tf32SplitKernel.
template <int V>
__global__ void AddTf32ProductsKernel(const float* __restrict__ hi, const float* __restrict__ lo,
                                      size_t ld_p, int rows, int units, float beta,
                                      float* __restrict__ c, size_t ldc) {
  const bool read_c = beta != 0.0f;  // C may hold garbage (or NaN) when beta is 0
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    const float* row_hi = hi + size_t(r) * ld_p;
    const float* row_lo = lo + size_t(r) * ld_p;
    float* row_c = c + size_t(r) * ldc;
    for (int u = blockIdx.x * blockDim.x + threadIdx.x; u < units; u += gridDim.x * blockDim.x) {
      if constexpr (V == 4) {
        const float4 h = reinterpret_cast<const float4*>(row_hi)[u];
        const float4 l = reinterpret_cast<const float4*>(row_lo)[u];
        float4 x = read_c ? reinterpret_cast<const float4*>(row_c)[u] : float4{0, 0, 0, 0};
        x.x = AddProducts(x.x, beta, l.x, h.x);
        x.y = AddProducts(x.y, beta, l.y, h.y);
        x.z = AddProducts(x.z, beta, l.z, h.z);
        x.w = AddProducts(x.w, beta, l.w, h.w);
        reinterpret_cast<float4*>(row_c)[u] = x;
      } else {
        row_c[u] = AddProducts(read_c ? row_c[u] : 0.0f, beta, row_lo[u], row_hi[u]);
      }
    }
  }
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

dim3 Grid(int rows, int units) {
  const int column_blocks = (units + kThreads - 1) / kThreads;
  return dim3(column_blocks < kMaxColumnBlocks ? column_blocks : kMaxColumnBlocks,
              rows < kMaxRowBlocks ? rows : kMaxRowBlocks);
}

}  // namespace

cudaError_t LaunchTf32SplitKernel(const float* in, int rows, int cols, size_t ld_in, float* hi,
                                  float* lo, size_t ld_out, cudaStream_t stream) {
  const bool vec4 = cols % 4 == 0 && ld_in % 4 == 0 && ld_out % 4 == 0 && Aligned16(in) &&
                    Aligned16(hi) && Aligned16(lo);
  const int units = vec4 ? cols / 4 : cols;
  const dim3 grid = Grid(rows, units);
  if (vec4) {
    Tf32SplitKernel<4><<<grid, kThreads, 0, stream>>>(in, rows, units, ld_in, hi, lo, ld_out);
  } else {
    Tf32SplitKernel<1><<<grid, kThreads, 0, stream>>>(in, rows, units, ld_in, hi, lo, ld_out);
  }
  return cudaGetLastError();
}

cudaError_t LaunchAddTf32ProductsKernel(const float* hi, const float* lo, size_t ld_p, int rows,
                                        int cols, float beta, float* c, size_t ldc,
                                        cudaStream_t stream) {
  const bool vec4 = cols % 4 == 0 && ld_p % 4 == 0 && ldc % 4 == 0 && Aligned16(hi) &&
                    Aligned16(lo) && Aligned16(c);
  const int units = vec4 ? cols / 4 : cols;
  const dim3 grid = Grid(rows, units);
  if (vec4) {
    AddTf32ProductsKernel<4><<<grid, kThreads, 0, stream>>>(hi, lo, ld_p, rows, units, beta, c,
                                                            ldc);
  } else {
    AddTf32ProductsKernel<1><<<grid, kThreads, 0, stream>>>(hi, lo, ld_p, rows, units, beta, c,
                                                            ldc);
  }
  return cudaGetLastError();
}

}  // namespace hecate
