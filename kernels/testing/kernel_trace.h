// kernel_trace.h: every kernel and memory copy the GPU runs between
// StartKernelTrace() and StopKernelTrace(), with its start and end on the
// GPU's clock, recorded through CUPTI's activity API (CUDA graph nodes
// included, one record each), so a benchmark can show where a step's time
// goes kernel by kernel on a machine without Nsight Systems. One trace at a
// time per process; records arrive when the trace stops.
#ifndef HECATE_KERNELS_TESTING_KERNEL_TRACE_H_
#define HECATE_KERNELS_TESTING_KERNEL_TRACE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hecate::testing {

struct TracedActivity {
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint32_t stream = 0;
  int64_t blocks = 0;          // grid size; 0 for a copy
  int32_t shared_bytes = 0;    // static + dynamic shared memory a block
  std::string name;            // demangled kernel name, or "memcpy ..."
};

// Kernels launched before the trace starts (or graphs instantiated before
// it) may not be recorded: start it before the work to trace is set up.
absl::Status StartKernelTrace();
// The clock the records use, now (ns).
uint64_t KernelTraceNow();
// Flushes and stops; the records sorted by start.
absl::StatusOr<std::vector<TracedActivity>> StopKernelTrace();

}  // namespace hecate::testing

#endif  // HECATE_KERNELS_TESTING_KERNEL_TRACE_H_
