// gemv_decode_core.cuh: the part every decode-GEMV kernel shares, for nvcc
// only: one block's partial product over its K slice, with the prologue
// (gemv_decode_kernel.h) applied to the input first.
//
// Block shape: 256 threads; thread (kl, group) reads column group `group`
// (one 16-byte load: 4 fp32 or 8 bf16 weights, kCols / that per tile) of K
// rows kl, kl + kKLanes, ... of the slice.
// The first HeldRows(R) of them go into registers and the rest into L2
// *before* griddepcontrol.wait, so under PDL the weight stream overlaps the
// previous kernel's tail; every read of x/y/gain after it. A cluster of
// 1, 2, 4 or 8 blocks splits K (ChooseSplits): the fewest whose slices fit
// in the held registers, so a call is one wave of blocks that each fetch all
// their weights at once, rather than many small blocks whose fixed costs
// (launch, prologue, barriers) and later waves the bytes wait behind. Products are
// fp32 (fmaf, K ascending per thread); the K lanes are summed by warp
// shuffles and then warp by warp in order through shared memory, so the
// block's sums are the same bits every run.
#ifndef HECATE_KERNELS_GEMV_DECODE_GEMV_DECODE_CORE_CUH_
#define HECATE_KERNELS_GEMV_DECODE_GEMV_DECODE_CORE_CUH_

#include <cuda_bf16.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "kernels/cp_async.cuh"
#include "kernels/gemv_decode/gemv_decode_kernel.h"
#include "kernels/grid_dependency.cuh"

namespace hecate {
namespace gemv_core {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr float kNormEps = 1e-6f;

// Weight rows per thread fetched into registers before the wait: 8 for the
// 1- and 2-row instantiations (decode at B = 1, 2: bandwidth is all), 4
// where the accumulators of more rows need the registers.
__host__ __device__ constexpr int HeldRows(int rows) { return rows <= 2 ? 8 : 4; }

__device__ __forceinline__ float Sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__device__ __forceinline__ float Silu(float x) { return x / (1.0f + expf(-x)); }

__device__ __forceinline__ void PrefetchL2(const void* p) {
  asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

// How one weight type is read: a thread's 16-byte load of kPerLoad
// consecutive columns of one K row, widened to fp32 in registers.
template <typename T>
struct WeightLoad;

template <>
struct WeightLoad<float> {
  static constexpr int kPerLoad = 4;
  using Vec = float4;
  static __device__ __forceinline__ const float* Base(const GemvDecodeParams& p) { return p.w; }
  static __device__ __forceinline__ Vec Load(const float* p) {
    return __ldg(reinterpret_cast<const float4*>(p));
  }
  // Never taken: n % 4 == 0 fills every fp32 group.
  static __device__ __forceinline__ Vec LoadHalf(const float* p) { return Load(p); }
  static __device__ __forceinline__ Vec Zero() { return make_float4(0.f, 0.f, 0.f, 0.f); }
  static __device__ __forceinline__ void Widen(const Vec& v, float (&w)[kPerLoad]) {
    w[0] = v.x;
    w[1] = v.y;
    w[2] = v.z;
    w[3] = v.w;
  }
};

template <>
struct WeightLoad<__nv_bfloat16> {
  static constexpr int kPerLoad = 8;
  using Vec = uint4;  // bf16 pairs, the lower column in the low half
  static __device__ __forceinline__ const __nv_bfloat16* Base(const GemvDecodeParams& p) {
    return reinterpret_cast<const __nv_bfloat16*>(p.w_bf16);
  }
  static __device__ __forceinline__ Vec Load(const __nv_bfloat16* p) {
    return __ldg(reinterpret_cast<const uint4*>(p));
  }
  // The last column group when n % 8 == 4: 8 bytes, so nothing past column
  // n - 1 of the last K row is read.
  static __device__ __forceinline__ Vec LoadHalf(const __nv_bfloat16* p) {
    const uint2 h = __ldg(reinterpret_cast<const uint2*>(p));
    return make_uint4(h.x, h.y, 0u, 0u);
  }
  static __device__ __forceinline__ Vec Zero() { return make_uint4(0u, 0u, 0u, 0u); }
  // bf16 is the top half of an fp32: widening is a shift, exact.
  static __device__ __forceinline__ void Widen(const Vec& v, float (&w)[kPerLoad]) {
    const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      w[2 * j] = __uint_as_float(words[j] << 16);
      w[2 * j + 1] = __uint_as_float(words[j] & 0xFFFF0000u);
    }
  }
};

// The instantiation a call of `rows` rows runs (1, 2, 4 or 8).
inline int RoundRows(int rows) { return rows <= 1 ? 1 : rows <= 2 ? 2 : rows <= 4 ? 4 : 8; }

// K rows of a slice: the cluster's `splits` blocks split K evenly.
__host__ __device__ inline int SliceRows(int k, int splits) { return (k + splits - 1) / splits; }

// The prologue's output for one block's K slice (the dynamic shared memory
// `xs`): rows rounded up to the instantiation, 4 bytes each a K row.
inline size_t SliceBytes(int rows, int k, int splits) {
  return size_t(RoundRows(rows)) * SliceRows(k, splits) * sizeof(float);
}

// Blocks splitting K for a call of `rows` rows (a power of two up to
// kGemvDecodeSplits), for a kernel whose threads read K rows `k_lanes`
// apart: the fewest that leave each thread at most HeldRows rows of its
// slice, and always few enough that the slice's prologue output (4 bytes a
// row and row) fits max_slice_bytes. HECATE_GEMV_SPLITS (1, 2, 4 or 8; read
// once) replaces the first rule, for comparisons.
inline int ChooseSplits(int rows, int k, int k_lanes, size_t max_slice_bytes) {
  static const int forced = [] {
    const char* env = getenv("HECATE_GEMV_SPLITS");
    const int v = env != nullptr ? atoi(env) : 0;
    return v == 1 || v == 2 || v == 4 || v == 8 ? v : 0;
  }();
  const int r = RoundRows(rows);
  const int held = HeldRows(r);
  int splits = forced != 0 ? forced : 1;
  while (splits < kGemvDecodeSplits &&
         ((forced == 0 && SliceRows(k, splits) > k_lanes * held) ||
          SliceBytes(rows, k, splits) > max_slice_bytes)) {
    splits *= 2;
  }
  return splits;
}

// Resident blocks a multiprocessor must fit of the 1- and 2-row kernels
// (a register cap: their eight held rows would otherwise allow three).
__host__ __device__ constexpr int MinBlocksPerSm(int rows) { return rows <= 2 ? 4 : 1; }

// Shared memory the core takes from a kernel.
template <int R, int kCols>
struct Scratch {
  float* xs;            // [R][SliceRows(k, splits)]: the prologue's output (dynamic)
  float* warp_sums;     // [kWarps][R][kCols]
  float* block_sums;    // [R][kCols]: the result
  double* square_sums;  // [kWarps][R]
  float* row_scale;     // [R]
};

template <int R, typename T>
__device__ __forceinline__ void Accumulate(float (&acc)[R][WeightLoad<T>::kPerLoad],
                                           const typename WeightLoad<T>::Vec& v, const float* xs,
                                           int slice, int i) {
  constexpr int kPer = WeightLoad<T>::kPerLoad;
  float w[kPer];
  WeightLoad<T>::Widen(v, w);
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float x = xs[r * slice + i];
#pragma unroll
    for (int c = 0; c < kPer; ++c) acc[r][c] = fmaf(x, w[c], acc[r][c]);
  }
}

// block_sums[r][c] = sum over the K slice `split` of prologue(x)[r, k] *
// W[k, tile * kCols + c] (0 for columns >= n and rows >= p.rows), W of
// type T (float or __nv_bfloat16). Ends with a __syncthreads(); the caller
// reduces over the cluster.
template <int R, GemvPrologue P, int kCols, typename T>
__device__ __forceinline__ void BlockSums(const GemvDecodeParams& p, int tile, int split,
                                          int splits, const Scratch<R, kCols>& s) {
  using L = WeightLoad<T>;
  constexpr int kHeldRows = HeldRows(R);
  constexpr int kPer = L::kPerLoad;
  constexpr int kColGroups = kCols / kPer;
  constexpr int kKLanes = kThreads / kColGroups;
  static_assert(kColGroups <= 32 && 32 % kColGroups == 0, "column groups within a warp");
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int group = tid % kColGroups, kl = tid / kColGroups;
  const int slice = SliceRows(p.k, splits);
  const int k0 = split * slice;
  const int k1 = min(p.k, k0 + slice);
  const int col = tile * kCols + group * kPer;
  const bool col_ok = col < p.n;
  // n is a multiple of 4, so only 8-column (bf16) loads can leave the last
  // group half full; for fp32 this folds away.
  const bool col_half = kPer > 4 && col + kPer > p.n;
  const T* wcol = L::Base(p) + col;
  auto load = [&](int kk) {
    return col_ok && kk < k1 ? (col_half ? L::LoadHalf(wcol + size_t(kk) * p.ldw)
                                         : L::Load(wcol + size_t(kk) * p.ldw))
                             : L::Zero();
  };

  // 1. Weights: independent of every earlier kernel, so fetched first.
  typename L::Vec held[kHeldRows];
#pragma unroll
  for (int u = 0; u < kHeldRows; ++u) held[u] = load(k0 + kl + u * kKLanes);
  if (col_ok) {
    for (int kk = k0 + kl + kHeldRows * kKLanes; kk < k1; kk += kKLanes) {
      PrefetchL2(wcol + size_t(kk) * p.ldw);
    }
  }

  // The norm's gain is a weight too: copied into xs now (cp.async: no
  // registers held across the wait), where each thread reads its own
  // entries back after the wait (the same idx walk below).
  const int len = max(k1 - k0, 0);
  if constexpr (P == GemvPrologue::kRmsNorm) {
    for (int idx = tid; idx < R * len; idx += kThreads) {
      CpAsync4(s.xs + (idx / len) * slice + idx % len, p.gain + k0 + idx % len);
    }
    CpAsyncCommit();
  }

  // 2. Everything below reads what earlier kernels wrote.
  GridDependencyWait();
  LaunchDependents();

  // 3. The prologue for this block's K slice, into shared memory.
  if constexpr (P == GemvPrologue::kRmsNorm) {
    double sums[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      double sum = 0.0;
      if (r < p.rows) {
        const float* xr = p.x + size_t(r) * p.x_stride;
        for (int i = tid; i < p.k; i += kThreads) sum += double(xr[i]) * xr[i];
      }
      for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, o);
      sums[r] = sum;
    }
    if (lane == 0) {
#pragma unroll
      for (int r = 0; r < R; ++r) s.square_sums[warp * R + r] = sums[r];
    }
    __syncthreads();
    if (tid < R) {
      double sum = 0.0;
      for (int w = 0; w < kWarps; ++w) sum += s.square_sums[w * R + tid];
      s.row_scale[tid] = float(1.0 / sqrt(sum / p.k + double(kNormEps)));
    }
    __syncthreads();
  }
  if constexpr (P == GemvPrologue::kRmsNorm) CpAsyncWait<0>();  // this thread's gains
  for (int idx = tid; idx < R * len; idx += kThreads) {
    const int r = idx / len, i = idx - r * len, kk = k0 + i;
    float v = 0.0f;
    if (r < p.rows) {
      const float* xr = p.x + size_t(r) * p.x_stride;
      if constexpr (P == GemvPrologue::kNone) {
        v = xr[kk];
      } else if constexpr (P == GemvPrologue::kRmsNorm) {
        v = xr[kk] * s.row_scale[r] * s.xs[r * slice + i];  // the gain, staged above
      } else if constexpr (P == GemvPrologue::kMagGate) {
        float m = 0.0f;  // level by level, as kernels/fused's MagGate
        for (int j = 0; j < p.levels; ++j) {
          m += p.scale * p.y[j * p.y_plane + size_t(r) * p.y_stride + kk];
        }
        v = xr[kk] * Sigmoid(m);
      } else {
        v = Silu(xr[kk]) * xr[p.k + kk];
      }
    }
    s.xs[r * slice + i] = v;
  }
  __syncthreads();

  // 4. fp32 products, K rows ascending per thread.
  float acc[R][kPer];
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int c = 0; c < kPer; ++c) acc[r][c] = 0.0f;
  }
#pragma unroll
  for (int u = 0; u < kHeldRows; ++u) {
    const int kk = k0 + kl + u * kKLanes;
    if (kk < k1) Accumulate<R, T>(acc, held[u], s.xs, slice, kk - k0);
  }
  for (int base = k0 + kl + kHeldRows * kKLanes; base < k1; base += kHeldRows * kKLanes) {
    typename L::Vec next[kHeldRows];
#pragma unroll
    for (int u = 0; u < kHeldRows; ++u) next[u] = load(base + u * kKLanes);
#pragma unroll
    for (int u = 0; u < kHeldRows; ++u) {
      const int kk = base + u * kKLanes;
      if (kk < k1) Accumulate<R, T>(acc, next[u], s.xs, slice, kk - k0);
    }
  }

  // 5. The warp's K lanes (lanes kColGroups apart), then the warps in order.
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int c = 0; c < kPer; ++c) {
      float v = acc[r][c];
#pragma unroll
      for (int o = kColGroups; o < 32; o <<= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
      acc[r][c] = v;
    }
  }
  if (lane < kColGroups) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int c = 0; c < kPer; ++c) {
        s.warp_sums[(warp * R + r) * kCols + group * kPer + c] = acc[r][c];
      }
    }
  }
  __syncthreads();
  for (int idx = tid; idx < R * kCols; idx += kThreads) {
    float sum = 0.0f;
    for (int w = 0; w < kWarps; ++w) sum += s.warp_sums[w * R * kCols + idx];
    s.block_sums[idx] = sum;
  }
  __syncthreads();
}

}  // namespace gemv_core
}  // namespace hecate

#endif  // HECATE_KERNELS_GEMV_DECODE_GEMV_DECODE_CORE_CUH_
