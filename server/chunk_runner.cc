#include "server/chunk_runner.h"

#include <memory>
#include <string>
#include <utility>

#include "base/status_macros.h"

namespace hecate {

absl::StatusOr<ChunkOutcome> RunChunk(const ApplyFn& apply, uint64_t start_pulse,
                                      absl::Span<const float> start_logits,
                                      absl::string_view input, const v1::OutputSpec& spec,
                                      const std::atomic<bool>* cancel, const TokenSink& sink) {
  HECATE_ASSIGN_OR_RETURN(std::unique_ptr<ChunkProgram> program,
                          ChunkProgram::Start(start_pulse, start_logits, std::string(input),
                                              spec, cancel, sink));
  while (std::optional<ChunkProgram::Apply> step = program->Next()) {
    const absl::Time t0 = absl::Now();
    absl::StatusOr<uint64_t> pulse = apply(step->tokens, step->mode, step->logits, step->rows);
    program->Applied(pulse, absl::Now() - t0);
  }
  return program->TakeOutcome();
}

}  // namespace hecate
