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
//   ring C x S <=F       one block a multiprocessor, the weights streamed
//                        by bulk copies of C KB into S shared-memory slots,
//                        at most F of them outstanding (else up to S),
//                        ahead of the stages' dependencies (a counter in
//                        global memory between stages, spun on with acquire
//                        loads or relaxed ones; "no deps": none, the
//                        stream alone; "a launch a layer": a launch of
//                        4 stages, as if the mixers split the step).
//                        Includes clearing the counters.
// Each against the floor bytes / copy bandwidth, and beside it the decode
// GEMVs' own chain (gemv_decode_bench) for the same bytes.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cuda_check.h"
#include "kernels/device_buffer.h"
#include "kernels/fused/fused_kernels.h"
#include "kernels/gemv_decode/stage_stream_kernel.h"
#include "kernels/testing/bench_util.h"
#include "runtime/model_config.h"

namespace hecate {
namespace {

struct Ring {
  int kb, slots, in_flight;
  StageRingWait wait;
  int launches;
  const char* note;
};

std::string RingName(const Ring& ring) {
  char limit[16] = "";
  if (ring.in_flight > 0) std::snprintf(limit, sizeof(limit), " <=%d", ring.in_flight);
  char name[64];
  std::snprintf(name, sizeof(name), "ring %d KB x %d%s%s", ring.kb, ring.slots, limit, ring.note);
  return name;
}

// One traced ring launch (`t`: LaunchStageStreamRing's trace of `count`
// stages x `blocks` blocks), summed up by the projection each stage streams.
void PrintRingTrace(const Ring& ring, const std::vector<uint64_t>& t, int count, int blocks) {
  auto at = [&](int stage, int block, int field) {
    return double(t[(size_t(stage) * blocks + block) * 3 + field]) / 1e3;
  };
  double wait[4] = {}, spread[4] = {}, stall[4] = {}, stage_us[4] = {};
  int n[4] = {};
  for (int st = 1; st < count; ++st) {
    double first_start = 1e300, last_prev = 0, first_done = 1e300, last_done = 0, stalled = 0;
    for (int b = 0; b < blocks; ++b) {
      first_start = std::min(first_start, at(st, b, 0));
      last_prev = std::max(last_prev, at(st - 1, b, 1));
      first_done = std::min(first_done, at(st, b, 1));
      last_done = std::max(last_done, at(st, b, 1));
      stalled += at(st, b, 2) / blocks;
    }
    const int kind = st % 4;
    wait[kind] += first_start - last_prev;
    spread[kind] += last_done - first_done;
    stall[kind] += stalled;
    stage_us[kind] += last_done - last_prev;
    ++n[kind];
  }
  double total_start = 1e300, total_end = 0;
  for (int b = 0; b < blocks; ++b) {
    total_start = std::min(total_start, at(0, b, 0));
    total_end = std::max(total_end, at(count - 1, b, 1));
  }
  std::printf("  %s: %.1f us from first start to last finish\n", RingName(ring).c_str(),
              total_end - total_start);
  const struct {
    const char* name;
    const double* v;
  } lines[] = {{"stage", stage_us}, {"wait", wait}, {"spread", spread}, {"stall", stall}};
  for (const auto& line : lines) {
    std::printf("    %-7s %6.2f %6.2f %6.2f %6.2f\n", line.name, line.v[0] / n[0],
                line.v[1] / n[1], line.v[2] / n[2], line.v[3] / n[3]);
  }
}

absl::Status Run() {
  HECATE_ASSIGN_OR_RETURN(testing::BenchDevice bench_device, testing::StartBenchmark());
  const double gbps = bench_device.copy.best();
  HECATE_ASSIGN_OR_RETURN(const ModelConfig c, ModelConfig::Preset("base"));
  const size_t dm = c.d_model, ff = c.d_ff;
  const size_t pc = MixerPrepProjCols(c.n_heads, c.head_dim(), c.levels());
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
  constexpr StageRingWait kAcquire = StageRingWait::kAcquireSpin;
  constexpr StageRingWait kNone = StageRingWait::kNone;
  for (const Ring& ring :
       {Ring{16, 13, 0, kAcquire, 1, ""}, Ring{32, 6, 0, kAcquire, 1, ""},
        Ring{32, 6, 0, StageRingWait::kRelaxedSpin, 1, ", relaxed spin"},
        Ring{16, 13, 0, kNone, 1, ", no deps"}, Ring{32, 6, 0, kNone, 1, ", no deps"},
        Ring{32, 6, 2, kAcquire, 1, ""}, Ring{32, 6, 3, kAcquire, 1, ""},
        Ring{16, 13, 2, kAcquire, 1, ""}, Ring{16, 13, 3, kAcquire, 1, ""},
        Ring{16, 13, 4, kAcquire, 1, ""}, Ring{16, 13, 6, kAcquire, 1, ""},
        Ring{8, 26, 4, kAcquire, 1, ""}, Ring{8, 26, 8, kAcquire, 1, ""},
        Ring{16, 13, 3, kNone, 1, ", no deps"}, Ring{16, 13, 4, kNone, 1, ", no deps"},
        Ring{16, 13, 4, kAcquire, c.n_layers, ", a launch a layer"}}) {
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
                    ring.in_flight, ring.wait, sums.data(), arrived.data() + l,
                    /*trace=*/nullptr, stream));
              }
              return absl::OkStatus();
            },
            /*calls=*/1));
    row(RingName(ring).c_str(), us);
  }
  // Where the ring's dependency time goes: one traced launch each.
  HECATE_ASSIGN_OR_RETURN(DeviceBuffer<uint64_t> trace,
                          DeviceBuffer<uint64_t>::Create(size_t(count) * sms * 3));
  std::printf("ring traces, us a stage (mean over stages 1..%d; by projection: qkv wo w13 w2):\n"
              "  wait = first block's start - last block's finish of the stage before\n"
              "  spread = last - first finish; stall = producer waiting for a slot\n",
              count - 1);
  for (const Ring& ring : {Ring{16, 13, 3, kAcquire, 1, ""}, Ring{32, 6, 0, kAcquire, 1, ""},
                           Ring{16, 13, 3, kNone, 1, ", no deps"}}) {
    HECATE_CUDA_RETURN_IF_ERROR(cudaMemset(arrived.data(), 0, sizeof(unsigned)));
    HECATE_CUDA_RETURN_IF_ERROR(LaunchStageStreamRing(table.data(), count, ring.kb * 1024,
                                                      ring.slots, ring.in_flight, ring.wait,
                                                      sums.data(), arrived.data(), trace.data(),
                                                      nullptr));
    HECATE_CUDA_RETURN_IF_ERROR(cudaDeviceSynchronize());
    std::vector<uint64_t> t(size_t(count) * sms * 3);
    HECATE_RETURN_IF_ERROR(CudaStatus(
        cudaMemcpy(t.data(), trace.data(), t.size() * sizeof(uint64_t), cudaMemcpyDeviceToHost),
        "trace"));
    PrintRingTrace(ring, t, count, sms);
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
