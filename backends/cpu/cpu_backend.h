// The CPU reference backend: docs/MODEL.md computed in float32 on the host.
//
// It is the oracle the CUDA backend is tested against, and is itself tested
// against the Python model in tests/oracle. State lives in a host ModelState;
// "device" and "host" residency are the same memory. ForwardBatch runs its
// items (independent sessions) in parallel.
//
//   std::unique_ptr<Backend> cpu = MakeCpuBackend(model);
//   auto state = cpu->NewState();
//   std::vector<float> logits;
//   cpu->Forward(**state, tokens, LogitsMode::kLast, &logits);
#ifndef HECATE_BACKENDS_CPU_CPU_BACKEND_H_
#define HECATE_BACKENDS_CPU_CPU_BACKEND_H_

#include <memory>

#include "runtime/backend.h"
#include "runtime/model.h"

namespace hecate {

struct CpuBackendOptions {
  // Slow CMS levels over spans as matrix products (false: token loop).
  bool slow_levels_as_matmul = true;
  // Tokens per internal step: bounds scratch memory and is the granularity
  // at which cancellation is observed.
  int max_step_tokens = 256;
  // ForwardBatch of an item longer than one step: how many items run at
  // once on the shared CPU pool (base/parallel.h: one thread per hardware
  // thread, at most 16 chunks per call). 0: as many as the pool runs; 1:
  // one after another. Batches whose items all fit in one step run as one
  // stacked pass instead. Results are the same bit for bit either way.
  int batch_parallelism = 0;
};

std::unique_ptr<Backend> MakeCpuBackend(std::shared_ptr<const Model> model,
                                        CpuBackendOptions options = {});

}  // namespace hecate

#endif  // HECATE_BACKENDS_CPU_CPU_BACKEND_H_
