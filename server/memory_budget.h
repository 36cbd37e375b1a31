// How many bytes of session state hecated keeps on the device before idle
// sessions move down a tier (SessionStoreOptions::device_budget_bytes), when
// --device_memory_budget does not say.
//
// Why not a fixed number: a fixed 2 GiB held 17 sessions of the base model on
// a GPU with over 100 GiB free, so every session past the 17th paid a
// promotion on each use. The default is what the device has free once the
// backend holds its weights and workspace (both allocated at creation, a
// step never allocates), less a margin for what is allocated later (CUDA
// graphs, cuBLAS workspace, the allocator's rounding): the larger of 5% of
// the device and 1 GiB, and less the spare states the store may make for
// snapshots (MemoryBudgetInputs::spare_bytes).
//
// On the CPU backend the "device" is host memory and there is no host tier
// below it, only disk: the default stays 2 GiB, or a quarter of physical
// memory on a machine with less than 8 GiB.
//
// A pure function of what main.cc measures, so the choice is tested without
// a GPU (memory_budget_test):
//   MemoryBudgetInputs in;
//   in.flag_bytes = absl::GetFlag(FLAGS_device_memory_budget);  // -1: choose
//   in.backend = backend->name();
//   in.device_memory = CudaDeviceMemory();   // CUDA only
//   in.physical_ram_bytes = PhysicalRamBytes();
//   MemoryBudget budget = ChooseDeviceMemoryBudget(in);
//   LOG(INFO) << DescribeMemoryBudget(budget, state_bytes);
#ifndef HECATE_SERVER_MEMORY_BUDGET_H_
#define HECATE_SERVER_MEMORY_BUDGET_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace hecate {

inline constexpr uint64_t kFixedDeviceBudgetBytes = uint64_t{2} << 30;
inline constexpr uint64_t kMinDeviceMarginBytes = uint64_t{1} << 30;
inline constexpr double kDeviceMarginFraction = 0.05;

// A device's memory as cudaMemGetInfo reports it.
struct DeviceMemory {
  uint64_t free_bytes = 0;
  uint64_t total_bytes = 0;
};

struct MemoryBudgetInputs {
  // --device_memory_budget; negative: choose.
  int64_t flag_bytes = -1;
  // Backend::name(): "cpu", "cuda".
  std::string backend;
  // CUDA: measured after the backend was created. An error falls back to the
  // fixed 2 GiB (with the reason in MemoryBudget::reason).
  absl::StatusOr<DeviceMemory> device_memory = absl::UnavailableError("not measured");
  // CPU: physical memory; 0 when unknown.
  uint64_t physical_ram_bytes = 0;
  // CUDA: device memory the session store may allocate outside its tiers
  // (spare states for chunk and rewind snapshots, made as concurrency
  // demands): set aside from the free memory with the margin.
  uint64_t spare_bytes = 0;
};

struct MemoryBudget {
  uint64_t bytes = 0;
  // Where the number came from, for the startup log.
  std::string reason;
  // True when the device has less room than the margin: a budget of 0 keeps
  // only sessions in use on the device (every idle one moves down).
  bool starved = false;
};

MemoryBudget ChooseDeviceMemoryBudget(const MemoryBudgetInputs& inputs);

// "device memory budget 12.5 GiB = room for 114 sessions of 112 MiB (free
// after weights and workspace 19.0 GiB less margin 4.0 GiB)".
std::string DescribeMemoryBudget(const MemoryBudget& budget, uint64_t state_bytes);

// sysconf's physical pages times page size; 0 when unknown.
uint64_t PhysicalRamBytes();

}  // namespace hecate

#endif  // HECATE_SERVER_MEMORY_BUDGET_H_
