// Benchmark: how fast can a decode step's 48 dependent weight stages stream
// at one row, by launch structure alone? (issue 14 item 1; the kernels and
// what they model: stage_stream_kernel.h.) The base config's projections
// (qkv+gates, Wo, W1|W3, W2) x 12 layers, 764 MB of fp32 weights, read:
//   chain PDL / chain    one launch per stage, graph replays, with and
//                        without programmatic dependent launch (the decode
//                        GEMVs' structure without their prologues, block
//                        reductions across K, or cluster sums); "4 an SM":
//                        padded with unused shared memory to the GEMVs'
//                        four resident blocks a multiprocessor (the kernel
//                        alone fits five), so PDL's overlap compares;
//   persistent P x N     one cooperative launch of N blocks a multiprocessor,
//                        a grid barrier between stages, the next stage's
//                        first loads before the barrier (P = prefetch) or
//                        after it;
//   barriers only        the persistent kernel over 48 empty stages;
//   ring C x S           one block a multiprocessor, the weights streamed
//                        by bulk copies of C KB into S shared-memory slots
//                        ahead of the stages' dependencies (a counter in
//                        global memory between stages; "no deps": none, the
//                        stream alone; "a launch a layer": a launch of
//                        4 stages, as if the mixers split the step).
//                        Includes clearing the counters.
// Each against the floor bytes / copy bandwidth, and beside it the decode
// GEMVs' own chain (gemv_decode_bench) for the same bytes.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda_check.h"
#include "kernels/device_buffer.h"
#include "kernels/gemv_decode/stage_stream_kernel.h"
#include "kernels/testing/bench_util.h"
#include "runtime/model_config.h"

namespace hecate {
namespace {

absl::Status Run() {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const double gbps = bench_device.copy.best();
  HECATE_ASSIGN_OR_RETURN(const ModelConfig c, ModelConfig::Preset("base"));
  const size_t dm = c.d_model, ff = c.d_ff;
  const size_t pc = (6 * dm + 3 * c.levels() * c.n_heads + 3) / 4 * 4;
  const size_t per_layer[4] = {pc * dm, dm * dm, 2 * ff * dm, dm * ff};  // floats
  size_t total = 0;
  for (size_t f : per_layer) total += f * c.n_layers;
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> weights, DeviceBuffer<float>::Create(total));
  std::mt19937_64 rng(20261204);
  HECATE_RETURN_IF_ERROR(testing::FillDeviceUniform(weights, -1.f, 1.f, rng));
  std::vector<StageStreamStage> stages;
  size_t at = 0;
  for (int l = 0; l < c.n_layers; ++l) {
    for (size_t f : per_layer) {
      stages.push_back({reinterpret_cast<const float4*>(weights.data() + at), f / 4});
      at += f;
    }
  }
  const int count = static_cast<int>(stages.size());
  const double floor_us = total * sizeof(float) / (gbps * 1e3);

  int max_blocks = 0;
  for (const StageStreamStage& s : stages) {
    max_blocks = std::max(max_blocks, StageStreamChainBlocks(s.n4));
  }
  const int persistent_max = StageStreamPersistentBlocks();
  if (persistent_max < 1) return absl::InternalError("no co-resident blocks");
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> sums,
                          DeviceBuffer<float>::Create(2 * size_t(std::max(max_blocks,
                                                                          persistent_max))));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<float> one, DeviceBuffer<float>::Create(1));
  const std::vector<float> host_one = {1.f};
  HECATE_RETURN_IF_ERROR(one.CopyFromHost(host_one));
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<StageStreamStage> table,
                          DeviceBuffer<StageStreamStage>::Create(stages.size()));
  HECATE_RETURN_IF_ERROR(table.CopyFromHost(stages));
  std::vector<StageStreamStage> empty(stages.size());
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<StageStreamStage> empty_table,
                          DeviceBuffer<StageStreamStage>::Create(empty.size()));
  HECATE_RETURN_IF_ERROR(empty_table.CopyFromHost(empty));

  std::printf("base: %d stages, %.1f MB of fp32 weights, floor %.1f us at %.0f GB/s\n", count,
              total * 4 / 1e6, floor_us, gbps);
  std::printf("%-26s %10s %8s\n", "structure", "us/step", "x floor");
  auto row = [&](const char* name, double us) {
    std::printf("%-26s %10.1f %8.2f\n", name, us, us / floor_us);
  };
  // Shared memory that leaves room for four blocks a multiprocessor, not five.
  int device = 0, smem_per_sm = 0;
  HECATE_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  HECATE_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(
      &smem_per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device));
  const size_t four_an_sm = size_t(smem_per_sm) / 4 - 4 * 1024;
  struct Chain {
    const char* name;
    bool pdl;
    size_t pad;
  };
  for (const Chain& chain : {Chain{"chain PDL", true, 0}, Chain{"chain", false, 0},
                             Chain{"chain PDL, 4 an SM", true, four_an_sm}}) {
    HECATE_ASSIGN_OR_RETURN(
        const double us, testing::TimeGraphMicrosPerCall(
                             [&](cudaStream_t stream) -> absl::Status {
                               const float* in = one.data();
                               int in_count = 1;
                               for (int s = 0; s < count; ++s) {
                                 float* out = sums.data() + size_t(s & 1) * max_blocks;
                                 HECATE_CUDA_RETURN_IF_ERROR(LaunchStageStreamChain(
                                     stages[s], in, in_count, out, chain.pdl, chain.pad, stream));
                                 in = out;
                                 in_count = StageStreamChainBlocks(stages[s].n4);
                               }
                               return absl::OkStatus();
                             },
                             /*calls=*/1));
    row(chain.name, us);
  }
  const int sms = bench_device.info.multiprocessors;
  for (int per_sm = persistent_max / sms; per_sm >= 1; per_sm /= 2) {
    for (bool prefetch : {true, false}) {
      const int blocks = per_sm * sms;
      HECATE_ASSIGN_OR_RETURN(
          const double us,
          testing::TimeEventsMicrosPerCall(
              [&](cudaStream_t stream) -> absl::Status {
                HECATE_CUDA_RETURN_IF_ERROR(LaunchStageStreamPersistent(
                    table.data(), count, blocks, prefetch, sums.data(), stream));
                return absl::OkStatus();
              },
              /*calls=*/1));
      char name[64];
      std::snprintf(name, sizeof(name), "persistent %s x %d", prefetch ? "P" : "-", per_sm);
      row(name, us);
    }
  }
  HECATE_ASSIGN_OR_RETURN(const double barrier_us,
                          testing::TimeEventsMicrosPerCall(
                              [&](cudaStream_t stream) -> absl::Status {
                                HECATE_CUDA_RETURN_IF_ERROR(LaunchStageStreamPersistent(
                                    empty_table.data(), count, persistent_max, true,
                                    sums.data(), stream));
                                return absl::OkStatus();
                              },
                              /*calls=*/1));
  std::printf("%-26s %10.1f (%.2f us a barrier, %d blocks)\n", "barriers only", barrier_us,
              barrier_us / count, persistent_max);
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<unsigned> arrived,
                          DeviceBuffer<unsigned>::Create(size_t(count)));
  struct Ring {
    int kb, slots;
    bool barriers;
    int launches;
  };
  for (const Ring& ring : {Ring{16, 13, true, 1}, Ring{8, 26, true, 1}, Ring{32, 6, true, 1},
                           Ring{4, 52, true, 1}, Ring{16, 13, false, 1},
                           Ring{16, 13, true, c.n_layers}}) {
    const int per_launch = count / ring.launches;
    HECATE_ASSIGN_OR_RETURN(
        const double us,
        testing::TimeEventsMicrosPerCall(
            [&](cudaStream_t stream) -> absl::Status {
              HECATE_CUDA_RETURN_IF_ERROR(
                  cudaMemsetAsync(arrived.data(), 0, count * sizeof(unsigned), stream));
              for (int l = 0; l < ring.launches; ++l) {
                HECATE_CUDA_RETURN_IF_ERROR(LaunchStageStreamRing(
                    table.data() + l * per_launch, per_launch, ring.kb * 1024, ring.slots,
                    ring.barriers, sums.data(), arrived.data() + l, stream));
              }
              return absl::OkStatus();
            },
            /*calls=*/1));
    char name[64];
    std::snprintf(name, sizeof(name), "ring %d KB x %d%s%s", ring.kb, ring.slots,
                  ring.barriers ? "" : ", no deps", ring.launches > 1 ? ", a launch a layer" : "");
    row(name, us);
  }
  std::vector<float> check(1);
  HECATE_RETURN_IF_ERROR(CudaStatus(
      cudaMemcpy(check.data(), sums.data(), sizeof(float), cudaMemcpyDeviceToHost), "check"));
  if (!std::isfinite(check[0])) return absl::InternalError("a stage sum is not finite");
  return absl::OkStatus();
}

}  // namespace
}  // namespace hecate

int main() { return hecate::testing::BenchMain("stage_stream_bench", hecate::Run); }
