#include "server/memory_budget.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hecate {
namespace {

std::string GiB(uint64_t bytes) {
  return absl::StrFormat("%.1f GiB", static_cast<double>(bytes) / (1 << 30));
}

std::string Size(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30)) return GiB(bytes);
  if (bytes >= (1 << 20)) return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return absl::StrCat(bytes, " bytes");
}

}  // namespace

MemoryBudget ChooseDeviceMemoryBudget(const MemoryBudgetInputs& inputs) {
  MemoryBudget budget;
  if (inputs.flag_bytes >= 0) {
    budget.bytes = static_cast<uint64_t>(inputs.flag_bytes);
    budget.reason = "--device_memory_budget";
    return budget;
  }
  if (inputs.backend == "cpu") {
    budget.bytes = kFixedDeviceBudgetBytes;
    budget.reason = "the CPU default";
    if (inputs.physical_ram_bytes > 0 && inputs.physical_ram_bytes / 4 < budget.bytes) {
      budget.bytes = inputs.physical_ram_bytes / 4;
      budget.reason = absl::StrCat("a quarter of physical memory (", GiB(inputs.physical_ram_bytes),
                                   ")");
    }
    return budget;
  }
  if (!inputs.device_memory.ok()) {
    budget.bytes = kFixedDeviceBudgetBytes;
    budget.reason = absl::StrCat("fixed: device memory unknown (",
                                 inputs.device_memory.status().message(), ")");
    return budget;
  }
  const DeviceMemory& memory = *inputs.device_memory;
  const uint64_t margin = std::max(
      kMinDeviceMarginBytes,
      static_cast<uint64_t>(kDeviceMarginFraction * static_cast<double>(memory.total_bytes)));
  budget.reason = absl::StrCat("free after weights and workspace ", GiB(memory.free_bytes),
                               " of ", GiB(memory.total_bytes), " less margin ", GiB(margin));
  if (inputs.spare_bytes > 0) {
    absl::StrAppend(&budget.reason, " and spare states ", GiB(inputs.spare_bytes));
  }
  const uint64_t set_aside = margin + inputs.spare_bytes;
  if (memory.free_bytes <= set_aside) {
    budget.starved = true;
    return budget;
  }
  budget.bytes = memory.free_bytes - set_aside;
  return budget;
}

std::string DescribeMemoryBudget(const MemoryBudget& budget, uint64_t state_bytes) {
  const uint64_t sessions = state_bytes == 0 ? 0 : budget.bytes / state_bytes;
  return absl::StrCat("device memory budget ", Size(budget.bytes), " = room for ", sessions,
                      " sessions of ", Size(state_bytes), " (", budget.reason, ")");
}

uint64_t PhysicalRamBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
}

}  // namespace hecate
