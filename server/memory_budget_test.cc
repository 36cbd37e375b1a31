#include "server/memory_budget.h"

#include <algorithm>
#include <random>

#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

MemoryBudgetInputs Cuda(uint64_t free_bytes, uint64_t total_bytes) {
  MemoryBudgetInputs in;
  in.backend = "cuda";
  in.device_memory = DeviceMemory{free_bytes, total_bytes};
  return in;
}

TEST(MemoryBudgetTest, ExplicitFlagWins) {
  std::mt19937_64 rng(TestSeed());
  const int64_t flag = static_cast<int64_t>(rng() % (64 * kGiB));
  for (const char* backend : {"cpu", "cuda"}) {
    MemoryBudgetInputs in = Cuda(100 * kGiB, 141 * kGiB);
    in.backend = backend;
    in.flag_bytes = flag;
    in.physical_ram_bytes = 4 * kGiB;
    const MemoryBudget budget = ChooseDeviceMemoryBudget(in);
    EXPECT_EQ(budget.bytes, static_cast<uint64_t>(flag)) << backend;
    EXPECT_EQ(budget.reason, "--device_memory_budget");
  }
  MemoryBudgetInputs zero = Cuda(100 * kGiB, 141 * kGiB);
  zero.flag_bytes = 0;  // an explicit 0 is a choice too: idle sessions never stay
  EXPECT_EQ(ChooseDeviceMemoryBudget(zero).bytes, 0u);
}

TEST(MemoryBudgetTest, CudaUsesWhatIsFreeLessTheLargerMargin) {
  // A big device: 5% of it (7.05 GiB of 141) is the margin.
  const MemoryBudget h200 = ChooseDeviceMemoryBudget(Cuda(138 * kGiB, 141 * kGiB));
  EXPECT_EQ(h200.bytes, 138 * kGiB - static_cast<uint64_t>(0.05 * 141 * kGiB));
  EXPECT_FALSE(h200.starved);
  // A small one: 1 GiB is larger than 5% of 16 GiB.
  EXPECT_EQ(ChooseDeviceMemoryBudget(Cuda(10 * kGiB, 16 * kGiB)).bytes, 9 * kGiB);
  // Random sizes: never more than free, never within the margin of it.
  std::mt19937_64 rng(TestSeed());
  for (int i = 0; i < 100; ++i) {
    const uint64_t total = kGiB + rng() % (200 * kGiB);
    const uint64_t free_bytes = rng() % (total + 1);
    const MemoryBudget budget = ChooseDeviceMemoryBudget(Cuda(free_bytes, total));
    const uint64_t margin = std::max(kGiB, static_cast<uint64_t>(0.05 * total));
    EXPECT_EQ(budget.starved, free_bytes <= margin);
    EXPECT_EQ(budget.bytes, budget.starved ? 0 : free_bytes - margin);
  }
}

TEST(MemoryBudgetTest, CudaSetsTheSpareStatesAsideWithTheMargin) {
  std::mt19937_64 rng(TestSeed());
  for (int i = 0; i < 100; ++i) {
    const uint64_t total = kGiB + rng() % (200 * kGiB);
    const uint64_t free_bytes = rng() % (total + 1);
    MemoryBudgetInputs in = Cuda(free_bytes, total);
    in.spare_bytes = rng() % (8 * kGiB);
    const MemoryBudget budget = ChooseDeviceMemoryBudget(in);
    const uint64_t set_aside =
        std::max(kGiB, static_cast<uint64_t>(0.05 * total)) + in.spare_bytes;
    EXPECT_EQ(budget.starved, free_bytes <= set_aside);
    EXPECT_EQ(budget.bytes, budget.starved ? 0 : free_bytes - set_aside);
  }
  MemoryBudgetInputs cpu = Cuda(100 * kGiB, 141 * kGiB);
  cpu.backend = "cpu";
  cpu.physical_ram_bytes = 64 * kGiB;
  cpu.spare_bytes = 4 * kGiB;  // the CPU budget is fixed: nothing to set aside from
  EXPECT_EQ(ChooseDeviceMemoryBudget(cpu).bytes, 2 * kGiB);
  MemoryBudgetInputs described = Cuda(10 * kGiB, 16 * kGiB);
  described.spare_bytes = 2 * kGiB;
  EXPECT_NE(ChooseDeviceMemoryBudget(described).reason.find("spare states 2.0 GiB"),
            std::string::npos);
}

TEST(MemoryBudgetTest, CudaWithoutAMeasurementFallsBackToTheFixedBudget) {
  MemoryBudgetInputs in;
  in.backend = "cuda";
  in.device_memory = absl::InternalError("cudaMemGetInfo: boom");
  const MemoryBudget budget = ChooseDeviceMemoryBudget(in);
  EXPECT_EQ(budget.bytes, kFixedDeviceBudgetBytes);
  EXPECT_NE(budget.reason.find("boom"), std::string::npos) << budget.reason;
}

TEST(MemoryBudgetTest, CpuKeepsTwoGiBUnlessMemoryIsSmall) {
  MemoryBudgetInputs in;
  in.backend = "cpu";
  in.device_memory = DeviceMemory{100 * kGiB, 141 * kGiB};  // ignored on the CPU
  in.physical_ram_bytes = 64 * kGiB;
  EXPECT_EQ(ChooseDeviceMemoryBudget(in).bytes, 2 * kGiB);
  in.physical_ram_bytes = 0;  // unknown
  EXPECT_EQ(ChooseDeviceMemoryBudget(in).bytes, 2 * kGiB);
  in.physical_ram_bytes = 4 * kGiB;
  EXPECT_EQ(ChooseDeviceMemoryBudget(in).bytes, kGiB);
}

TEST(MemoryBudgetTest, DescriptionNamesTheBudgetTheSessionsAndTheReason) {
  const MemoryBudget budget = ChooseDeviceMemoryBudget(Cuda(10 * kGiB, 16 * kGiB));
  const std::string text = DescribeMemoryBudget(budget, 128 << 20);
  EXPECT_EQ(text,
            "device memory budget 9.0 GiB = room for 72 sessions of 128.0 MiB (free after "
            "weights and workspace 10.0 GiB of 16.0 GiB less margin 1.0 GiB)");
  EXPECT_GT(PhysicalRamBytes(), 0u);
}

}  // namespace
}  // namespace hecate
