// Sliding-window attention decode: one query per (session, head) over the
// ring of W keys and values.
//
// Grid: x = split (a cluster of `splits` blocks per (session, head)),
// y = session * heads + head. Each block takes a contiguous share of the
// valid ring slots; inside it, 16 groups of 8 lanes each walk every 16th
// slot with an online softmax (lane `sub` holds the float4s at columns
// (j * 8 + sub) * 4, so a group reads 128 contiguous bytes per load and a
// dot product takes three shuffles; two slots per step keep four loads in
// flight). Groups combine in shared memory, then the cluster's blocks
// combine through distributed shared memory, each block writing its share
// of the output dimensions. No workspace, no second launch.
//
// The new token's slot p % W is read from k/v (not the ring) and written to
// the ring by the block that owns it, so nothing reads what this launch
// writes.
#include <cooperative_groups.h>

#include <cstdint>

#include "kernels/grid_dependency.cuh"
#include "kernels/lane_vector_dispatch.cuh"
#include "kernels/swa_decode/swa_decode_kernel.h"

namespace hecate {
namespace {

namespace cg = cooperative_groups;

constexpr int kLanes = 8;
constexpr int kThreads = 128;
constexpr int kGroups = kThreads / kLanes;
constexpr int kMaxDim = 256;

__device__ __forceinline__ float Dot4(float4 a, float4 b, float acc) {
  acc = fmaf(a.x, b.x, acc);
  acc = fmaf(a.y, b.y, acc);
  acc = fmaf(a.z, b.z, acc);
  return fmaf(a.w, b.w, acc);
}

__device__ __forceinline__ float GroupSum(float x) {
  x += __shfl_xor_sync(0xFFFFFFFFu, x, 4);
  x += __shfl_xor_sync(0xFFFFFFFFu, x, 2);
  x += __shfl_xor_sync(0xFFFFFFFFu, x, 1);
  return x;
}

__device__ __forceinline__ float4 Axpby(float a, float4 x, float b, float4 y) {
  return make_float4(fmaf(a, x.x, b * y.x), fmaf(a, x.y, b * y.y),
                     fmaf(a, x.z, b * y.z), fmaf(a, x.w, b * y.w));
}

struct Partial {
  float max[kGroups];
  float sum[kGroups];
  float weight[kGroups];  // exp(max[g] - block max), 0 for a group with no slot
  float acc[kGroups][kMaxDim];
  float block_max;
  float block_sum;
  float block_acc[kMaxDim];
};

template <int VEC, bool kEarly>
__global__ void __launch_bounds__(kThreads) SwaDecodeKernel(SwaDecodeParams p) {
  cg::cluster_group cluster = cg::this_cluster();
  __shared__ Partial part;

  const int split = static_cast<int>(cluster.block_rank());
  const int splits = static_cast<int>(cluster.num_blocks());
  const int bh = blockIdx.y;
  const int b = bh / p.heads;
  const int h = bh % p.heads;
  const int group = threadIdx.x / kLanes;
  const int sub = threadIdx.x % kLanes;
  const int d = p.dim;

  const uint64_t pulse = p.pulse[b];
  const int valid = pulse + 1 < uint64_t(p.window) ? int(pulse + 1) : p.window;
  const int current = static_cast<int>(pulse % uint64_t(p.window));
  const int share = (valid + splits - 1) / splits;
  const int begin = split * share;
  const int end = min(valid, begin + share);

  float* ring_k = p.states[b] + p.k_offset + size_t(h) * p.window * d;
  float* ring_v = p.states[b] + p.v_offset + size_t(h) * p.window * d;
  const float* new_k = p.k + size_t(bh) * d;
  const float* new_v = p.v + size_t(bh) * d;

  auto slot_k = [&](int slot) -> const float* {
    return slot == current ? new_k : ring_k + size_t(slot) * d;
  };
  auto slot_v = [&](int slot) -> const float* {
    return slot == current ? new_v : ring_v + size_t(slot) * d;
  };
  // The two slots a group takes at `base` (slots past `end` read `begin`'s
  // and get weight 0). With `ring_only` the current slot's stale ring entry
  // is read instead of this token's k, v: for use before the wait.
  struct Slots {
    float4 k0[VEC], v0[VEC], k1[VEC], v1[VEC];
  };
  auto load = [&](int base, Slots& r, bool ring_only) {
    const int s0 = base + group < end ? base + group : begin;
    const int s1 = base + group + kGroups < end ? base + group + kGroups : begin;
    const float* k0p = ring_only ? ring_k + size_t(s0) * d : slot_k(s0);
    const float* v0p = ring_only ? ring_v + size_t(s0) * d : slot_v(s0);
    const float* k1p = ring_only ? ring_k + size_t(s1) * d : slot_k(s1);
    const float* v1p = ring_only ? ring_v + size_t(s1) * d : slot_v(s1);
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const int c = (j * kLanes + sub) * 4;
      if (c < d) {
        r.k0[j] = __ldcs(reinterpret_cast<const float4*>(k0p + c));
        r.v0[j] = __ldcs(reinterpret_cast<const float4*>(v0p + c));
        r.k1[j] = __ldcs(reinterpret_cast<const float4*>(k1p + c));
        r.v1[j] = __ldcs(reinterpret_cast<const float4*>(v1p + c));
      } else {
        r.k0[j] = r.v0[j] = r.k1[j] = r.v1[j] = make_float4(0.f, 0.f, 0.f, 0.f);
      }
    }
  };

  float4 q[VEC], acc[VEC];
  float run_max = -INFINITY, run_sum = 0.f;
  auto load_q = [&] {
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      const int c = (j * kLanes + sub) * 4;
      q[j] = c < d ? __ldg(reinterpret_cast<const float4*>(p.q + size_t(bh) * d + c))
                   : make_float4(0.f, 0.f, 0.f, 0.f);
      acc[j] = make_float4(0.f, 0.f, 0.f, 0.f);
    }
  };

  // The trip count depends only on the block's range, so every lane of a
  // warp runs the same iterations and full-warp shuffles are safe; slots
  // past `end` get weight 0.
  auto consume = [&](int base, const Slots& r) {
    const bool has0 = base + group < end;
    const bool has1 = base + group + kGroups < end;
    float dot0 = 0.f, dot1 = 0.f;
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      dot0 = Dot4(q[j], r.k0[j], dot0);
      dot1 = Dot4(q[j], r.k1[j], dot1);
    }
    dot0 = GroupSum(dot0);
    dot1 = GroupSum(dot1);
    if (!has0) return;  // then has1 is false too
    const float score0 = dot0 * p.scale;
    const float score1 = has1 ? dot1 * p.scale : -INFINITY;
    const float new_max = fmaxf(run_max, fmaxf(score0, score1));
    const float correction = expf(run_max - new_max);  // 0 on the first slot
    const float w0 = expf(score0 - new_max);
    const float w1 = has1 ? expf(score1 - new_max) : 0.f;
    run_sum = fmaf(run_sum, correction, w0 + w1);
    run_max = new_max;
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      acc[j] = Axpby(correction, acc[j], w0, r.v0[j]);
      acc[j] = Axpby(1.f, acc[j], w1, r.v1[j]);
    }
  };

  int rest = begin;  // the first slot base the loop below loads itself
  if constexpr (kEarly) {
    // A programmatic dependent of the kernel computing q, k and v, which may
    // still be running: the first slots' ring entries (written by earlier
    // steps) are fetched before the wait, q and this token's k, v after it.
    // (Only here: holding them across the wait costs registers, and so
    // occupancy at the large batches that launch without PDL.)
    Slots first;
    if (begin < end) load(begin, first, true);
    GridDependencyWait();
    // The next kernel (the MAG+Wo GEMV) may start fetching its weights.
    LaunchDependents();
    load_q();
    if (begin < end) {
      const int s0 = begin + group, s1 = s0 + kGroups;
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        const int c = (j * kLanes + sub) * 4;
        if (c < d && s0 == current && s0 < end) {
          first.k0[j] = __ldg(reinterpret_cast<const float4*>(new_k + c));
          first.v0[j] = __ldg(reinterpret_cast<const float4*>(new_v + c));
        }
        if (c < d && s1 == current && s1 < end) {
          first.k1[j] = __ldg(reinterpret_cast<const float4*>(new_k + c));
          first.v1[j] = __ldg(reinterpret_cast<const float4*>(new_v + c));
        }
      }
      consume(begin, first);
      rest = begin + 2 * kGroups;
    }
  } else {
    load_q();
  }
  for (int base = rest; base < end; base += 2 * kGroups) {
    Slots r;
    load(base, r, false);
    consume(base, r);
  }

  // The block that owns the new token's slot stores it in the ring.
  if (current >= begin && current < end) {
    for (int c = threadIdx.x * 4; c < d; c += kThreads * 4) {
      *reinterpret_cast<float4*>(ring_k + size_t(current) * d + c) =
          __ldg(reinterpret_cast<const float4*>(new_k + c));
      *reinterpret_cast<float4*>(ring_v + size_t(current) * d + c) =
          __ldg(reinterpret_cast<const float4*>(new_v + c));
    }
  }

  // Groups -> block.
  if (sub == 0) {
    part.max[group] = run_max;
    part.sum[group] = run_sum;
  }
#pragma unroll
  for (int j = 0; j < VEC; ++j) {
    const int c = (j * kLanes + sub) * 4;
    if (c < d) *reinterpret_cast<float4*>(&part.acc[group][c]) = acc[j];
  }
  __syncthreads();
  // Each group's weight once (not one exp per output dimension per group):
  // the latency chain between the loads and the cluster exchange.
  float block_max = -INFINITY;
  for (int g = 0; g < kGroups; ++g) block_max = fmaxf(block_max, part.max[g]);
  if (threadIdx.x < kGroups) {
    const float m = part.max[threadIdx.x];
    part.weight[threadIdx.x] = m != -INFINITY ? expf(m - block_max) : 0.f;
  }
  __syncthreads();
  for (int c = threadIdx.x; c < d; c += kThreads) {
    float a = 0.f;
    for (int g = 0; g < kGroups; ++g) {
      if (part.max[g] != -INFINITY) a += part.acc[g][c] * part.weight[g];
    }
    part.block_acc[c] = a;
  }
  if (threadIdx.x == 0) {
    float s = 0.f;
    for (int g = 0; g < kGroups; ++g) {
      if (part.max[g] != -INFINITY) s += part.sum[g] * part.weight[g];
    }
    part.block_max = block_max;
    part.block_sum = s;
  }

  // Blocks -> output, through distributed shared memory.
  cluster.sync();
  float total_max = -INFINITY;
  for (int r = 0; r < splits; ++r) {
    total_max = fmaxf(total_max, cluster.map_shared_rank(&part, r)->block_max);
  }
  float total_sum = 0.f;
  for (int r = 0; r < splits; ++r) {
    const Partial* other = cluster.map_shared_rank(&part, r);
    if (other->block_max != -INFINITY) {
      total_sum += other->block_sum * expf(other->block_max - total_max);
    }
  }
  for (int c = threadIdx.x * splits + split; c < d; c += kThreads * splits) {
    float a = 0.f;
    for (int r = 0; r < splits; ++r) {
      const Partial* other = cluster.map_shared_rank(&part, r);
      if (other->block_max != -INFINITY) {
        a += other->block_acc[c] * expf(other->block_max - total_max);
      }
    }
    p.out[size_t(bh) * d + c] = a / total_sum;
  }
  cluster.sync();  // keep this block's shared memory alive for the others
}

template <int VEC>
cudaError_t Launch(const SwaDecodeParams& p, cudaStream_t stream) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(p.splits, p.batch * p.heads, 1);
  config.blockDim = dim3(kThreads, 1, 1);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = p.splits;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[1].val.programmaticStreamSerializationAllowed = p.programmatic ? 1 : 0;
  config.attrs = attr;
  config.numAttrs = 2;
  cudaError_t err = p.programmatic ? cudaLaunchKernelEx(&config, SwaDecodeKernel<VEC, true>, p)
                                    : cudaLaunchKernelEx(&config, SwaDecodeKernel<VEC, false>, p);
  if (err != cudaSuccess) return err;
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchSwaDecodeKernel(const SwaDecodeParams& p,
                                  cudaStream_t stream) {
  return DispatchLaneVector<8>(p.dim, [&](auto vec) {
    return Launch<decltype(vec)::value>(p, stream);
  });
}

}  // namespace hecate
