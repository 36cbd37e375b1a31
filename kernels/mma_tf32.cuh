// mma_tf32.cuh: the tensor-core product behind the mma kernels
// (gdr_prefill, cms_slow's span tiles, swa_prefill's tensor-core attention):
// one m16n8k8 tf32 mma, the hi/lo split of a float32 and the three-product
// form that keeps float32 accuracy, or one product on operands rounded to
// TF32 where a TF32 mode allows it. Device code only (sm_80 and later).
#ifndef HECATE_KERNELS_MMA_TF32_CUH_
#define HECATE_KERNELS_MMA_TF32_CUH_

#include <cstdint>

namespace hecate {

// 3xTF32: x = hi + lo with hi = x truncated to tf32 (a mask) and lo = x - hi
// (exact); hi*hi + hi*lo + lo*hi keeps products to about float32 precision.
// lo goes to the tensor core as raw float32 bits: tf32 operands ignore the
// low 13 bits, which truncates lo to its top 11 (relative error 2^-21 of x,
// the same order as the lo*lo term left out). Two instructions per element
// instead of cvt.rna, sub, cvt.rna: the split is most of these kernels'
// arithmetic-pipe work.
struct Tf32Pair {
  uint32_t hi, lo;
};
__device__ __forceinline__ Tf32Pair Split(float x) {
  const uint32_t hi = __float_as_uint(x) & 0xFFFFE000u;
  return {hi, __float_as_uint(x - __uint_as_float(hi))};
}

// x rounded to TF32 (nearest, ties away from zero): a one-product operand,
// for the TF32 modes that accept its ~1e-3 relative error.
__device__ __forceinline__ uint32_t ToTf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}

// d += a b for one m16n8k8 tile; operand layouts as in the PTX ISA
// (g = lane / 4, t = lane % 4): a0 (g, t), a1 (g+8, t), a2 (g, t+4),
// a3 (g+8, t+4); b0 (k t, n g), b1 (k t+4, n g); d0 (g, 2t), d1 (g, 2t+1),
// d2 (g+8, 2t), d3 (g+8, 2t+1).
__device__ __forceinline__ void MmaTf32(float (&d)[4], uint32_t a0, uint32_t a1,
                                        uint32_t a2, uint32_t a3, uint32_t b0,
                                        uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
// The three products, small terms first.
__device__ __forceinline__ void Mma3xTf32(float (&d)[4], float a0, float a1,
                                          float a2, float a3, float b0, float b1) {
  const Tf32Pair x0 = Split(a0), x1 = Split(a1), x2 = Split(a2), x3 = Split(a3);
  const Tf32Pair y0 = Split(b0), y1 = Split(b1);
  MmaTf32(d, x0.lo, x1.lo, x2.lo, x3.lo, y0.hi, y1.hi);
  MmaTf32(d, x0.hi, x1.hi, x2.hi, x3.hi, y0.lo, y1.lo);
  MmaTf32(d, x0.hi, x1.hi, x2.hi, x3.hi, y0.hi, y1.hi);
}

// As Mma3xTf32 with b already split (b0 = bh0 + bl0, b1 = bh1 + bl1).
__device__ __forceinline__ void Mma3xTf32SplitB(float (&d)[4], float a0, float a1,
                                                float a2, float a3, uint32_t bh0,
                                                uint32_t bh1, uint32_t bl0,
                                                uint32_t bl1) {
  const Tf32Pair x0 = Split(a0), x1 = Split(a1), x2 = Split(a2), x3 = Split(a3);
  MmaTf32(d, x0.lo, x1.lo, x2.lo, x3.lo, bh0, bh1);
  MmaTf32(d, x0.hi, x1.hi, x2.hi, x3.hi, bl0, bl1);
  MmaTf32(d, x0.hi, x1.hi, x2.hi, x3.hi, bh0, bh1);
}

// The operand form of x for a product in 3xTF32 (kPrecise: hi and lo) or in
// one TF32 pass (hi = x rounded to TF32, lo unused).
template <bool kPrecise>
__device__ __forceinline__ Tf32Pair TfOperand(float x) {
  if constexpr (kPrecise) {
    return Split(x);
  } else {
    return {ToTf32(x), 0u};
  }
}

// d += a b from TfOperand values: a_lo b_hi + a_hi b_lo + a_hi b_hi
// (kPrecise, small terms first) or a_hi b_hi alone.
template <bool kPrecise>
__device__ __forceinline__ void MmaOperands(float (&d)[4], const Tf32Pair (&a)[4], Tf32Pair b0,
                                            Tf32Pair b1) {
  if constexpr (kPrecise) {
    MmaTf32(d, a[0].lo, a[1].lo, a[2].lo, a[3].lo, b0.hi, b1.hi);
    MmaTf32(d, a[0].hi, a[1].hi, a[2].hi, a[3].hi, b0.lo, b1.lo);
  }
  MmaTf32(d, a[0].hi, a[1].hi, a[2].hi, a[3].hi, b0.hi, b1.hi);
}

}  // namespace hecate

#endif  // HECATE_KERNELS_MMA_TF32_CUH_
