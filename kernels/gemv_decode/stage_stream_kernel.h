// stage_stream_kernel.h: the kernels of stage_stream_bench, a bound for
// issue 14 item 1 rather than a product kernel. A decode step streams its
// weights in 48 dependent stages (four projections x 12 layers); each stage
// here reads its bytes with the decode GEMV's access pattern (16-byte
// loads, 8 held a thread before the dependency wait) and reduces them
// against one value the previous stage wrote, so the stages are as
// dependent as the real ones but do no other work. Two ways to run them:
//   - chain: one launch per stage (PDL optional), as ForwardEngine does;
//   - persistent: one cooperative launch whose blocks stream every stage
//     with a grid-wide barrier between stages, each block's first loads of
//     stage s + 1 issued before the barrier that ends stage s (prefetch on
//     or off);
//   - ring: one persistent block a multiprocessor whose producer lane
//     streams the block's share of every stage, back to back, into a ring
//     of shared-memory slots by bulk copies, while the consumer warps take
//     stage s only after every block has finished stage s - 1 (a counter in
//     global memory, not a cooperative-groups barrier): the weight stream
//     never waits for a dependency, only for a free slot.
// The sums are checked for being finite only: the numbers are times.
#ifndef HECATE_KERNELS_GEMV_DECODE_STAGE_STREAM_KERNEL_H_
#define HECATE_KERNELS_GEMV_DECODE_STAGE_STREAM_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace hecate {

inline constexpr int kStageStreamThreads = 256;
inline constexpr int kStageStreamHeld = 8;  // 16-byte loads a thread before the wait

struct StageStreamStage {
  const float4* w = nullptr;  // device, 16-byte aligned
  size_t n4 = 0;              // float4s of the stage
};

// One stage: grid = ceil(n4 / (threads * held)); out[block] = its sum,
// reading in[(block * 7) % in_count] after the dependency wait. The kernel
// takes 48 registers (5 blocks a multiprocessor); `pad_shared_bytes` of
// unused dynamic shared memory a block lowers that, e.g. to the decode
// GEMVs' 4, so co-residency under PDL can be compared like for like.
cudaError_t LaunchStageStreamChain(const StageStreamStage& stage, const float* in, int in_count,
                                   float* out, bool programmatic, size_t pad_shared_bytes,
                                   cudaStream_t stream);
int StageStreamChainBlocks(size_t n4);

// Every stage of `stages` (a device array of `count`) in one cooperative
// launch of `blocks` blocks (at most the co-resident count: see
// StageStreamPersistentBlocks); partials holds 2 * blocks floats.
cudaError_t LaunchStageStreamPersistent(const StageStreamStage* stages, int count, int blocks,
                                        bool prefetch, float* partials, cudaStream_t stream);
int StageStreamPersistentBlocks();

// How the ring's stages wait for each other: not at all (the stream alone),
// or thread 0 of each block spinning on the counter with acquire loads, or
// with relaxed loads and one fence after.
enum class StageRingWait { kNone, kAcquireSpin, kRelaxedSpin };

// The ring form: `chunk_bytes` a bulk copy (a multiple of 16), `slots` of
// them a block, at most `in_flight` (< slots; 0: no limit but the slots)
// outstanding; one block a multiprocessor (cooperative launch, so all are
// co-resident). `arrived` must be 0 at the start. A non-null `trace` (count
// x blocks x 3) gets, per stage and block, the global timer (ns) when the
// block's consumers start the stage and when they finish it, and the time
// its producer waited for free slots during the stage.
cudaError_t LaunchStageStreamRing(const StageStreamStage* stages, int count, int chunk_bytes,
                                  int slots, int in_flight, StageRingWait wait, float* partials,
                                  unsigned* arrived, uint64_t* trace, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_GEMV_DECODE_STAGE_STREAM_KERNEL_H_
