// The stage-streaming bound (stage_stream_kernel.h).
#include <cooperative_groups.h>

#include "kernels/gemv_decode/stage_stream_kernel.h"
#include "kernels/grid_dependency.cuh"
#include "kernels/sm90_ptx.cuh"

namespace hecate {
namespace {

namespace cg = cooperative_groups;
constexpr int kThreads = kStageStreamThreads;
constexpr int kHeld = kStageStreamHeld;

__device__ __forceinline__ float Sum4(float4 v) { return (v.x + v.y) + (v.z + v.w); }

// The block's sum, valid in thread 0; ends with the block's threads free to
// reuse `scratch`.
__device__ float BlockSum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  float total = 0.f;
  if (threadIdx.x == 0) {
    for (int w = 0; w < kThreads / 32; ++w) total += scratch[w];
  }
  __syncthreads();
  return total;
}

__global__ void __launch_bounds__(kThreads, 4)
    ChainKernel(StageStreamStage stage, const float* in, int in_count, float* out) {
  __shared__ float scratch[kThreads / 32];
  const size_t base = size_t(blockIdx.x) * kThreads * kHeld + threadIdx.x;
  float4 held[kHeld];
#pragma unroll
  for (int j = 0; j < kHeld; ++j) {
    const size_t i = base + size_t(j) * kThreads;
    held[j] = i < stage.n4 ? __ldg(stage.w + i) : make_float4(0.f, 0.f, 0.f, 0.f);
  }
  GridDependencyWait();
  LaunchDependents();
  const float x = in[(blockIdx.x * 7) % in_count];
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < kHeld; ++j) acc = fmaf(x, Sum4(held[j]), acc);
  const float total = BlockSum(acc, scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}

__global__ void __launch_bounds__(kThreads, 4)
    PersistentKernel(const StageStreamStage* stages, int count, bool prefetch, float* partials) {
  __shared__ float scratch[kThreads / 32];
  cg::grid_group grid = cg::this_grid();
  const int blocks = gridDim.x;
  float4 held[kHeld];
  auto share = [&](int s, size_t* begin, size_t* end) {
    const size_t per = (stages[s].n4 + blocks - 1) / blocks;
    *begin = min(stages[s].n4, size_t(blockIdx.x) * per);
    *end = min(stages[s].n4, *begin + per);
  };
  auto load_held = [&](int s) {
    size_t begin, end;
    share(s, &begin, &end);
#pragma unroll
    for (int j = 0; j < kHeld; ++j) {
      const size_t i = begin + threadIdx.x + size_t(j) * kThreads;
      held[j] = i < end ? __ldg(stages[s].w + i) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  };
  load_held(0);
  for (int s = 0; s < count; ++s) {
    if (!prefetch && s > 0) load_held(s);
    const float x = s == 0 ? 1.f : partials[((s - 1) & 1) * blocks + (blockIdx.x * 7) % blocks];
    size_t begin, end;
    share(s, &begin, &end);
    float acc = 0.f;
#pragma unroll
    for (int j = 0; j < kHeld; ++j) acc = fmaf(x, Sum4(held[j]), acc);
    for (size_t i = begin + threadIdx.x + size_t(kHeld) * kThreads; i < end; i += kThreads) {
      acc = fmaf(x, Sum4(__ldg(stages[s].w + i)), acc);
    }
    const float total = BlockSum(acc, scratch);
    if (threadIdx.x == 0) partials[(s & 1) * blocks + blockIdx.x] = total;
    if (prefetch && s + 1 < count) load_held(s + 1);
    grid.sync();
  }
}

// One block a multiprocessor: the warp after the eight consumer warps is the
// producer, whose lane 0 streams the block's share of every stage, chunk after chunk, into a
// ring of shared-memory slots with bulk copies (each completing on its
// slot's `full` mbarrier); the consumer warps take the chunks of stage s
// only after every block has finished stage s - 1 (a counter in global
// memory: one release add a block, one acquire spin by thread 0), and free
// each slot (its `empty` mbarrier) as they finish it. The stream never waits
// for a dependency, only for a free slot. With `in_flight` the producer also
// keeps at most that many copies outstanding: at saturation the memory
// system's latency grows to whatever is in flight over the bandwidth, so a
// ring that is all in flight has no landed chunks to spend while the
// consumers wait between stages.
constexpr int kRingConsumers = 256;
// The slots' full and empty mbarriers, rounded up so the slots start aligned.
__host__ __device__ constexpr size_t RingBarrierBytes(int slots) {
  return (2 * size_t(slots) * sizeof(uint64_t) + 127) / 128 * 128;
}
constexpr int kRingThreads = kRingConsumers + 32;

__device__ __forceinline__ uint32_t LoadAcquire(const unsigned* p) {
  uint32_t v;
  asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ uint32_t LoadRelaxed(const unsigned* p) {
  uint32_t v;
  asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}
__device__ __forceinline__ void AddRelease(unsigned* p, unsigned v) {
  asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ uint64_t GlobalTimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}
__device__ __forceinline__ void ConsumerSync() {
  asm volatile("bar.sync 1, %0;" ::"n"(kRingConsumers) : "memory");
}

__global__ void __launch_bounds__(kRingThreads, 1)
    RingKernel(const StageStreamStage* stages, int count, int chunk4, int slots, int in_flight,
               StageRingWait wait, float* partials, unsigned* arrived, uint64_t* trace) {
  extern __shared__ __align__(128) unsigned char ring_smem[];
  uint64_t* full = reinterpret_cast<uint64_t*>(ring_smem);
  uint64_t* empty = full + slots;
  float4* ring = reinterpret_cast<float4*>(ring_smem + RingBarrierBytes(slots));
  __shared__ float scratch[2][kRingConsumers / 32];  // by stage parity: no reuse race
  const int blocks = gridDim.x;
  const int warp = threadIdx.x >> 5;
  if (threadIdx.x == 0) {
    for (int i = 0; i < slots; ++i) {
      MbarInit(SmemAddr(full + i), 1);
      MbarInit(SmemAddr(empty + i), kRingConsumers / 32);
    }
    MbarInitFence();
  }
  __syncthreads();
  auto share = [&](int s, size_t* begin, size_t* end) {
    const size_t per = (stages[s].n4 + blocks - 1) / blocks;
    *begin = min(stages[s].n4, size_t(blockIdx.x) * per);
    *end = min(stages[s].n4, *begin + per);
  };
  if (warp == kRingConsumers / 32) {  // the producer
    if ((threadIdx.x & 31) == 0) {
      int g = 0;
      for (int s = 0; s < count; ++s) {
        size_t begin, end;
        share(s, &begin, &end);
        uint64_t stalled = 0;
        for (size_t at = begin; at < end; at += chunk4, ++g) {
          const int slot = g % slots;
          const uint32_t phase = (g / slots) & 1;
          const uint64_t t0 = trace != nullptr ? GlobalTimer() : 0;
          MbarWait(SmemAddr(empty + slot), phase ^ 1);
          if (trace != nullptr) stalled += GlobalTimer() - t0;
          if (in_flight > 0 && g >= in_flight) {  // chunk g - in_flight has landed
            const int landed = g - in_flight;
            MbarWait(SmemAddr(full + landed % slots), (landed / slots) & 1);
          }
          const uint32_t bytes = uint32_t(min(size_t(chunk4), end - at) * sizeof(float4));
          MbarArriveExpectTx(SmemAddr(full + slot), bytes);
          BulkCopy(SmemAddr(ring + size_t(slot) * chunk4), stages[s].w + at, bytes,
                   SmemAddr(full + slot));
        }
        if (trace != nullptr) trace[(size_t(s) * blocks + blockIdx.x) * 3 + 2] = stalled;
      }
    }
    return;
  }
  int g = 0;
  for (int s = 0; s < count; ++s) {
    if (wait != StageRingWait::kNone && s > 0) {
      if (threadIdx.x == 0) {
        const unsigned target = unsigned(s) * blocks;
        if (wait == StageRingWait::kAcquireSpin) {
          while (LoadAcquire(arrived) < target) {
          }
        } else {
          while (LoadRelaxed(arrived) < target) {
          }
          __threadfence();
        }
      }
      ConsumerSync();
    }
    if (trace != nullptr && threadIdx.x == 0) {
      trace[(size_t(s) * blocks + blockIdx.x) * 3] = GlobalTimer();
    }
    const float x = s == 0 ? 1.f : partials[((s - 1) & 1) * blocks + (blockIdx.x * 7) % blocks];
    size_t begin, end;
    share(s, &begin, &end);
    float acc = 0.f;
    for (size_t at = begin; at < end; at += chunk4, ++g) {
      const int slot = g % slots;
      MbarWait(SmemAddr(full + slot), (g / slots) & 1);
      const int n = int(min(size_t(chunk4), end - at));
      const float4* c = ring + size_t(slot) * chunk4;
      for (int i = threadIdx.x; i < n; i += kRingConsumers) acc = fmaf(x, Sum4(c[i]), acc);
      __syncwarp();
      if ((threadIdx.x & 31) == 0) MbarArrive(SmemAddr(empty + slot));
    }
    // Block sum over the consumer warps only.
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xFFFFFFFFu, acc, o);
    if ((threadIdx.x & 31) == 0) scratch[s & 1][warp] = acc;
    ConsumerSync();
    if (threadIdx.x == 0) {
      float total = 0.f;
      for (int w = 0; w < kRingConsumers / 32; ++w) total += scratch[s & 1][w];
      partials[(s & 1) * blocks + blockIdx.x] = total;
      if (trace != nullptr) trace[(size_t(s) * blocks + blockIdx.x) * 3 + 1] = GlobalTimer();
      if (wait != StageRingWait::kNone) AddRelease(arrived, 1);
    }
  }
}

}  // namespace

int StageStreamChainBlocks(size_t n4) {
  return static_cast<int>((n4 + size_t(kThreads) * kHeld - 1) / (size_t(kThreads) * kHeld));
}

cudaError_t LaunchStageStreamChain(const StageStreamStage& stage, const float* in, int in_count,
                                   float* out, bool programmatic, size_t pad_shared_bytes,
                                   cudaStream_t stream) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(StageStreamChainBlocks(stage.n4));
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = pad_shared_bytes;
  config.stream = stream;
  if (pad_shared_bytes > 48 * 1024) {
    const cudaError_t opted =
        cudaFuncSetAttribute(ChainKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(pad_shared_bytes));
    if (opted != cudaSuccess) return opted;
  }
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = programmatic ? 1 : 0;
  config.attrs = attribute;
  config.numAttrs = 1;
  const cudaError_t launched = cudaLaunchKernelEx(&config, ChainKernel, stage, in, in_count, out);
  return launched != cudaSuccess ? launched : cudaGetLastError();
}

int StageStreamPersistentBlocks() {
  int device = 0, sms = 0, per_sm = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, PersistentKernel, kThreads, 0) !=
          cudaSuccess) {
    return 0;
  }
  return sms * per_sm;
}

cudaError_t LaunchStageStreamPersistent(const StageStreamStage* stages, int count, int blocks,
                                        bool prefetch, float* partials, cudaStream_t stream) {
  void* args[] = {&stages, &count, &prefetch, &partials};
  const cudaError_t launched = cudaLaunchCooperativeKernel(
      reinterpret_cast<const void*>(PersistentKernel), dim3(blocks), dim3(kThreads), args, 0,
      stream);
  return launched != cudaSuccess ? launched : cudaGetLastError();
}

cudaError_t LaunchStageStreamRing(const StageStreamStage* stages, int count, int chunk_bytes,
                                  int slots, int in_flight, StageRingWait wait,
                                  float* partials, unsigned* arrived, uint64_t* trace,
                                  cudaStream_t stream) {
  if (chunk_bytes < 16 || chunk_bytes % 16 != 0 || slots < 1 || in_flight < 0 ||
      in_flight >= slots) {
    return cudaErrorInvalidValue;
  }
  int device = 0, sms = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) {
    err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  }
  const size_t smem = RingBarrierBytes(slots) + size_t(slots) * chunk_bytes;
  if (err == cudaSuccess) {
    err = cudaFuncSetAttribute(RingKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                               static_cast<int>(smem));
  }
  if (err != cudaSuccess) return err;
  int chunk4 = chunk_bytes / 16;
  void* args[] = {&stages,   &count,    &chunk4,  &slots, &in_flight,
                  &wait,     &partials, &arrived, &trace};
  const cudaError_t launched = cudaLaunchCooperativeKernel(
      reinterpret_cast<const void*>(RingKernel), dim3(sms), dim3(kRingThreads), args, smem, stream);
  return launched != cudaSuccess ? launched : cudaGetLastError();
}

}  // namespace hecate
