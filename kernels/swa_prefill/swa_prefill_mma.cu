// Sliding-window attention over a chunk on tensor cores: the tiled kernel's
// online softmax (swa_prefill_tiled.cu, same semantics: positions >= P from
// the chunk, older ones from the ring as it was before the chunk) with both
// products, S = Q K^T and O += P V, as m16n8k8 mma in 3xTF32 (float32
// accuracy, kernels/mma_tf32.cuh).
//
// Grid: x = tiles of 64 query tokens, y = head, z = session; four warps,
// warp w owns queries 16w..16w+15 and all 64 keys of a key tile. Scores stay
// in registers in the accumulator layout (thread (g, t): queries g, g + 8,
// keys 8n + 2t, 8n + 2t + 1), which is also P's operand layout for P V when
// a key tile's key 2t is read as k index t and 2t + 1 as t + 4 (a
// permutation of the summation index; V's rows are read with the same
// one). Q K^T reads dimension 2t as k index t in the same way, so each
// operand fetch is one 8-byte shared-memory load. A row's max and sum are
// shared by the four lanes of a quad (two shuffles).
#include <cstdint>

#include "kernels/cp_async.cuh"
#include "kernels/mma_tf32.cuh"
#include "kernels/swa_prefill/swa_chunk_window.cuh"
#include "kernels/swa_prefill/swa_prefill_kernel.h"

namespace hecate {
namespace {

constexpr int kTile = 64;  // queries per block, keys per step
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr unsigned kFull = 0xFFFFFFFFu;

// Row strides (floats): d + 8 puts a half-warp's 8-byte fragment loads of Q
// and K (8 rows x 4 column pairs) in distinct banks; d + 4 does the same for
// V's 4-byte loads (rows 2t and 2t + 1, 8 columns).
template <int kD>
struct MmaLayout {
  static constexpr int kQKStride = kD + 8;
  static constexpr int kVStride = kD + 4;
  static constexpr int kQ = 0;
  static constexpr int kK = kQ + kTile * kQKStride;
  static constexpr int kV = kK + kTile * kQKStride;
  static constexpr int kFloats = kV + kTile * kVStride;
};

// kPrecise: 3xTF32 products (float32 accuracy); else one TF32 product each
// (params.tf32).
template <int kD, bool kPrecise>
__global__ void __launch_bounds__(kThreads)
    SwaPrefillMmaKernel(const __grid_constant__ SwaPrefillParams p) {
  using L = MmaLayout<kD>;
  constexpr int kDimTiles = kD / 8;
  extern __shared__ float4 smem4[];
  float* smem = reinterpret_cast<float*>(smem4);
  float* qs = smem + L::kQ;  // [kTile][kQKStride]
  float* ks = smem + L::kK;  // [kTile][kQKStride]
  float* vs = smem + L::kV;  // [kTile][kVStride]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int b = blockIdx.z, h = blockIdx.y, t0 = blockIdx.x * kTile;
  const int W = p.window, T = p.tokens;
  const int nq = min(kTile, T - t0);
  const size_t row0 = size_t(b) * T;

  // Tiles are staged with cp.async: every copy of a tile in flight at once.
  // (Plain loads stored to shared memory went one round trip per float4:
  // the generic loads could not be moved above the stores. Keys and values
  // in separate groups a tile ahead, four barriers a tile, measured 4-6%
  // slower than this.) Rows past the last query or key are zero-filled from
  // a valid address.
  for (int idx = tid; idx < kTile * (kD / 4); idx += kThreads) {
    const int q = idx / (kD / 4), c = (idx % (kD / 4)) * 4;
    CpAsync16(qs + q * L::kQKStride + c,
              p.q + (row0 + t0 + min(q, nq - 1)) * p.qkv_stride + h * kD + c, q < nq ? 16 : 0);
  }
  const ChunkWindow<kD> window(p, b, h, t0, nq);
  const uint64_t first_q = window.first_q, hi = window.hi, lo = window.lo;

  // Rows g and g + 8 of this warp's 16 queries.
  const int qa = warp * 16 + g, qb = qa + 8;
  const uint64_t qpos[2] = {first_q + qa, first_q + qb};
  const bool q_ok[2] = {qa < nq, qb < nq};
  float run_max[2] = {-INFINITY, -INFINITY}, run_sum[2] = {0.f, 0.f};
  float o[kDimTiles][4];
#pragma unroll
  for (int n = 0; n < kDimTiles; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;

  for (uint64_t kbase = lo; kbase <= hi; kbase += kTile) {
    __syncthreads();  // previous tile consumed
    for (int idx = tid; idx < kTile * (kD / 4); idx += kThreads) {
      const int key = idx / (kD / 4), c = (idx % (kD / 4)) * 4;
      const uint64_t j = kbase + key;
      const int bytes = j <= hi ? 16 : 0;
      const uint64_t src = j <= hi ? j : hi;
      CpAsync16(ks + key * L::kQKStride + c, window.Key(src) + c, bytes);
      CpAsync16(vs + key * L::kVStride + c, window.Value(src) + c, bytes);
    }
    CpAsyncCommit();
    CpAsyncWait<0>();  // this tile (and, the first time, the queries)
    __syncthreads();

    // 1. S = Q K^T for this warp's 16 queries x 64 keys.
    float s[8][4];
#pragma unroll
    for (int n = 0; n < 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
    const float* q_a = qs + qa * L::kQKStride + 2 * t4;
    const float* q_b = qs + qb * L::kQKStride + 2 * t4;
#pragma unroll 4
    for (int j = 0; j < kDimTiles; ++j) {
      const float2 xa = *reinterpret_cast<const float2*>(q_a + 8 * j);
      const float2 xb = *reinterpret_cast<const float2*>(q_b + 8 * j);
      const float* k_j = ks + g * L::kQKStride + 8 * j + 2 * t4;
      const Tf32Pair a[4] = {TfOperand<kPrecise>(xa.x), TfOperand<kPrecise>(xb.x),
                             TfOperand<kPrecise>(xa.y), TfOperand<kPrecise>(xb.y)};
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        const float2 kk = *reinterpret_cast<const float2*>(k_j + 8 * n * L::kQKStride);
        MmaOperands<kPrecise>(s[n], a, TfOperand<kPrecise>(kk.x), TfOperand<kPrecise>(kk.y));
      }
    }

    // 2. Window mask, scale, online softmax per row (entries c = 0, 1 are
    // row g, c = 2, 3 row g + 8; the row's other keys sit in the quad).
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int n = 0; n < 8; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const uint64_t kpos = kbase + 8 * n + 2 * t4 + e;
          const bool ok = q_ok[r] && kpos <= hi && kpos <= qpos[r] && kpos + uint64_t(W) > qpos[r];
          float& x = s[n][2 * r + e];
          x = ok ? x * p.scale : -INFINITY;
          tile_max = fmaxf(tile_max, x);
        }
      }
      tile_max = fmaxf(tile_max, __shfl_xor_sync(kFull, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(kFull, tile_max, 2));
      const float new_max = fmaxf(run_max[r], tile_max);
      const float correction = run_max[r] == -INFINITY ? 0.f : expf(run_max[r] - new_max);
      float tile_sum = 0.f;
#pragma unroll
      for (int n = 0; n < 8; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float& x = s[n][2 * r + e];
          x = x == -INFINITY ? 0.f : expf(x - new_max);
          tile_sum += x;
        }
      }
      tile_sum += __shfl_xor_sync(kFull, tile_sum, 1);
      tile_sum += __shfl_xor_sync(kFull, tile_sum, 2);
      run_sum[r] = run_sum[r] * correction + tile_sum;
      run_max[r] = new_max;
#pragma unroll
      for (int n = 0; n < kDimTiles; ++n) {
        o[n][2 * r] *= correction;
        o[n][2 * r + 1] *= correction;
      }
    }

    // 3. O += P V, the tile's keys as the k index (2t, 2t + 1 of each 8).
#pragma unroll
    for (int kt = 0; kt < 8; ++kt) {
      const float* v0 = vs + (8 * kt + 2 * t4) * L::kVStride + g;
      const float* v1 = v0 + L::kVStride;
      const Tf32Pair a[4] = {TfOperand<kPrecise>(s[kt][0]), TfOperand<kPrecise>(s[kt][2]),
                             TfOperand<kPrecise>(s[kt][1]), TfOperand<kPrecise>(s[kt][3])};
#pragma unroll
      for (int n = 0; n < kDimTiles; ++n) {
        MmaOperands<kPrecise>(o[n], a, TfOperand<kPrecise>(v0[8 * n]),
                              TfOperand<kPrecise>(v1[8 * n]));
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    if (!q_ok[r]) continue;
    const float inv = 1.0f / run_sum[r];
    float* out = p.out + (row0 + t0 + (r == 0 ? qa : qb)) * p.out_stride + h * kD + 2 * t4;
#pragma unroll
    for (int n = 0; n < kDimTiles; ++n) {
      *reinterpret_cast<float2*>(out + 8 * n) =
          make_float2(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
    }
  }
}

template <int kD, bool kPrecise>
cudaError_t LaunchMma(const SwaPrefillParams& p, cudaStream_t stream) {
  const size_t smem = MmaLayout<kD>::kFloats * sizeof(float);
  const cudaError_t err = cudaFuncSetAttribute(
      SwaPrefillMmaKernel<kD, kPrecise>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (err != cudaSuccess) return err;
  const dim3 grid((p.tokens + kTile - 1) / kTile, p.heads, p.batch);
  SwaPrefillMmaKernel<kD, kPrecise><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchSwaPrefillMma(const SwaPrefillParams& p, cudaStream_t stream) {
  if (p.tf32)
    return p.dim == 64 ? LaunchMma<64, false>(p, stream) : LaunchMma<128, false>(p, stream);
  return p.dim == 64 ? LaunchMma<64, true>(p, stream) : LaunchMma<128, true>(p, stream);
}

}  // namespace hecate
