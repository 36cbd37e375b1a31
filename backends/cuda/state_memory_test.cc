// StateMemory on a GPU: new states are zeros even where a freed state's
// bytes were, and a free waits for the work queued before it on the
// engine's stream (the memory is not handed out under a running step).
#include "backends/cuda/state_memory.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/testing/cuda_test_util.h"

namespace hecate {
namespace {

constexpr size_t kBytes = size_t{64} << 20;  // one base state is ~114 MiB

std::vector<uint32_t> RandomWords(std::mt19937_64& rng, size_t words) {
  std::vector<uint32_t> out(words);
  for (uint32_t& w : out) w = static_cast<uint32_t>(rng()) | 1u;  // never zero
  return out;
}

size_t NonZeroWords(const void* device, size_t bytes) {
  std::vector<uint32_t> host(bytes / 4);
  EXPECT_EQ(cudaMemcpy(host.data(), device, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  size_t count = 0;
  for (uint32_t w : host) count += w != 0;
  return count;
}

TEST(StateMemoryTest, NewStatesAreZerosWhereFreedStatesWere) {
  HECATE_SKIP_WITHOUT_CUDA();
  std::mt19937_64 rng = testing::FreshRng("state_memory");
  absl::StatusOr<std::shared_ptr<StateMemory>> memory = StateMemory::Create(0);
  ASSERT_TRUE(memory.ok()) << memory.status();
  ASSERT_TRUE((*memory)->Retain(2 * kBytes).ok());  // freed blocks come back
  cudaStream_t engine = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&engine, cudaStreamNonBlocking), cudaSuccess);
  const std::vector<uint32_t> words = RandomWords(rng, kBytes / 4);
  for (int round = 0; round < 4; ++round) {
    absl::StatusOr<void*> state = (*memory)->AllocateZeroed(kBytes);
    ASSERT_TRUE(state.ok()) << state.status();
    EXPECT_EQ(NonZeroWords(*state, kBytes), 0u) << "round " << round;
    // A step on the engine's stream writes the state; the state is freed
    // while that write may still be queued.
    ASSERT_EQ(cudaMemcpyAsync(*state, words.data(), kBytes, cudaMemcpyHostToDevice, engine),
              cudaSuccess);
    (*memory)->Free(*state);
    if (round % 2 == 0) (*memory)->ReleaseFreed(engine);
  }
  ASSERT_EQ(cudaStreamSynchronize(engine), cudaSuccess);
  (*memory)->ReleaseFreed(engine);
  ASSERT_EQ(cudaStreamSynchronize(engine), cudaSuccess);
  std::printf("memory pools: %s\n", (*memory)->pooled() ? "yes" : "no (cudaMalloc)");
  cudaStreamDestroy(engine);
}

TEST(StateMemoryTest, StatesOutliveTheEngineAfterDetach) {
  HECATE_SKIP_WITHOUT_CUDA();
  std::mt19937_64 rng = testing::FreshRng("state_memory_detach");
  absl::StatusOr<std::shared_ptr<StateMemory>> memory = StateMemory::Create(0);
  ASSERT_TRUE(memory.ok()) << memory.status();
  absl::StatusOr<void*> kept = (*memory)->AllocateZeroed(kBytes);
  absl::StatusOr<void*> freed = (*memory)->AllocateZeroed(kBytes);
  ASSERT_TRUE(kept.ok() && freed.ok());
  const std::vector<uint32_t> words = RandomWords(rng, kBytes / 4);
  ASSERT_EQ(cudaMemcpy(*freed, words.data(), kBytes, cudaMemcpyHostToDevice), cudaSuccess);
  (*memory)->Free(*freed);  // held for a ReleaseFreed that never comes...
  (*memory)->Detach();      // ...until the engine goes away
  (*memory)->Free(*kept);   // after it: at once
  absl::StatusOr<void*> again = (*memory)->AllocateZeroed(kBytes);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(NonZeroWords(*again, kBytes), 0u);
  (*memory)->Free(*again);
  memory->reset();  // the pool goes with the last holder
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace hecate
