#include "backends/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/container/flat_hash_set.h"
#include "backends/cpu/forward.h"
#include "base/parallel.h"
#include "base/status_macros.h"

namespace hecate {
namespace {

// Rows of logits a forward step of ForwardInSteps writes.
int64_t LogitRows(absl::Span<const uint8_t> step, LogitsMode rows) {
  return rows == LogitsMode::kAll    ? static_cast<int64_t>(step.size())
         : rows == LogitsMode::kLast ? 1
                                     : 0;
}

class CpuState final : public BackendState {
 public:
  explicit CpuState(const ModelConfig& config) : state(config) {}
  uint64_t pulse_id() const override { return state.pulse_id(); }
  size_t resident_bytes() const override { return state.layout().total_bytes(); }
  ModelState state;
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(std::shared_ptr<const Model> model, CpuBackendOptions options)
      : model_(std::move(model)), options_(options), constants_(*model_) {}

  std::string name() const override { return "cpu"; }
  const Model& model() const override { return *model_; }
  int max_step_tokens() const override { return options_.max_step_tokens; }

  absl::StatusOr<std::unique_ptr<BackendState>> NewState() override {
    return std::make_unique<CpuState>(model_->config());
  }

  absl::Status Upload(const ModelState& host, BackendState& state) override {
    HECATE_ASSIGN_OR_RETURN(CpuState* cpu, Cast(state));
    if (host.config() != model_->config()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Upload: state of config ", host.config().Summary(), ", model is ",
          model_->config().Summary()));
    }
    std::memcpy(cpu->state.data().data(), host.data().data(), host.layout().total_bytes());
    cpu->state.set_pulse_id(host.pulse_id());
    return absl::OkStatus();
  }

  absl::Status Download(const BackendState& state, ModelState& host) override {
    const CpuState* cpu = dynamic_cast<const CpuState*>(&state);
    if (cpu == nullptr) return absl::InvalidArgumentError("Download: not a CPU backend state");
    if (host.config() != model_->config()) {
      return absl::InvalidArgumentError("Download: host state has another config");
    }
    std::memcpy(host.data().data(), cpu->state.data().data(), host.layout().total_bytes());
    host.set_pulse_id(cpu->state.pulse_id());
    return absl::OkStatus();
  }

  absl::Status Copy(const BackendState& from, BackendState& to) override {
    const CpuState* source = dynamic_cast<const CpuState*>(&from);
    if (source == nullptr) return absl::InvalidArgumentError("Copy: not a CPU backend state");
    HECATE_ASSIGN_OR_RETURN(CpuState* target, Cast(to));
    std::memcpy(target->state.data().data(), source->state.data().data(),
                source->state.layout().total_bytes());
    target->state.set_pulse_id(source->state.pulse_id());
    return absl::OkStatus();
  }

  absl::Status Forward(BackendState& state, absl::Span<const uint8_t> tokens, LogitsMode mode,
                       std::vector<float>* logits, const std::atomic<bool>* cancel,
                       size_t* applied) override {
    if (applied != nullptr) *applied = 0;
    HECATE_ASSIGN_OR_RETURN(CpuState* cpu, Cast(state));
    HECATE_RETURN_IF_ERROR(ValidateForward(model_->config(), tokens, mode, logits));
    const cpu::ForwardOptions forward_options{options_.slow_levels_as_matmul};
    std::unique_lock<std::mutex> scratch(scratch_mu_, std::try_to_lock);
    return ForwardInSteps(
        tokens, mode, model_->config().vocab_size, options_.max_step_tokens, logits, cancel,
        applied, [&](absl::Span<const uint8_t> step, LogitsMode rows, float* out) {
          cpu::ForwardChunk(*model_, constants_, forward_options, cpu->state, step,
                            LogitRows(step, rows), out,
                            scratch.owns_lock() ? &scratch_ : nullptr);
          return absl::OkStatus();
        });
  }

  // Items are independent sessions. When each fits in one step (decode,
  // prefill slices) they run as one pass (cpu::ForwardChunks: their rows
  // stacked through every projection, so a weight matrix streams once a
  // step, not once a session); otherwise at once, one per pool thread (each
  // item's own GEMMs share the same pool). Either way each item computes
  // exactly what Forward computes on it alone (a row's products do not
  // depend on the rows beside it, and ParallelFor's split never depends on
  // timing), so results are bit for bit those of the loop.
  absl::Status ForwardBatch(absl::Span<ForwardItem> items) override {
    // Validate everything before any state moves; two items on one state or
    // one logits vector would race.
    std::vector<CpuState*> states;
    states.reserve(items.size());
    absl::flat_hash_set<const void*> seen;
    for (const ForwardItem& item : items) {
      if (item.state == nullptr) return absl::InvalidArgumentError("ForwardBatch: null state");
      HECATE_ASSIGN_OR_RETURN(CpuState * cpu, Cast(*item.state));
      if (!seen.insert(cpu).second) {
        return absl::InvalidArgumentError("ForwardBatch: the same state appears twice");
      }
      if (item.logits != nullptr && !seen.insert(item.logits).second) {
        return absl::InvalidArgumentError("ForwardBatch: the same logits vector appears twice");
      }
      HECATE_RETURN_IF_ERROR(
          ValidateForward(model_->config(), item.tokens, item.mode, item.logits));
      states.push_back(cpu);
    }
    const int step_tokens = std::max(options_.max_step_tokens, 1);
    if (std::all_of(items.begin(), items.end(), [&](const ForwardItem& item) {
          return item.tokens.size() <= static_cast<size_t>(step_tokens);
        })) {
      // ForwardInSteps sizes each item's logits and hands over its one step
      // (none for an empty chunk); the steps then run together.
      std::vector<cpu::ChunkItem> chunks;
      chunks.reserve(items.size());
      for (size_t i = 0; i < items.size(); ++i) {
        ModelState* state = &states[i]->state;
        HECATE_RETURN_IF_ERROR(ForwardInSteps(
            items[i].tokens, items[i].mode, model_->config().vocab_size, step_tokens,
            items[i].logits, nullptr, nullptr,
            [&](absl::Span<const uint8_t> step, LogitsMode rows, float* out) {
              chunks.push_back({state, step, LogitRows(step, rows), out});
              return absl::OkStatus();
            }));
      }
      std::unique_lock<std::mutex> scratch(scratch_mu_, std::try_to_lock);
      cpu::ForwardChunks(*model_, constants_,
                         cpu::ForwardOptions{options_.slow_levels_as_matmul}, chunks,
                         scratch.owns_lock() ? &scratch_ : nullptr);
      return absl::OkStatus();
    }
    const int64_t n = static_cast<int64_t>(items.size());
    std::vector<absl::Status> results(items.size());
    const int64_t parallelism = options_.batch_parallelism > 0 ? options_.batch_parallelism : n;
    ParallelFor(n, (n + parallelism - 1) / std::max<int64_t>(parallelism, 1),
                     [&](int64_t begin, int64_t end) {
                       for (int64_t i = begin; i < end; ++i) {
                         results[i] = Forward(*states[i], items[i].tokens, items[i].mode,
                                              items[i].logits, nullptr, nullptr);
                       }
                     });
    for (absl::Status& result : results) {
      if (!result.ok()) return result;
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<CpuState*> Cast(BackendState& state) const {
    CpuState* cpu = dynamic_cast<CpuState*>(&state);
    if (cpu == nullptr) return absl::InvalidArgumentError("not a CPU backend state");
    if (cpu->state.config() != model_->config()) {
      return absl::InvalidArgumentError("state belongs to a model of another config");
    }
    return cpu;
  }

  std::shared_ptr<const Model> model_;
  CpuBackendOptions options_;
  cpu::ForwardConstants constants_;
  // One pass's scratch kept between passes (forward.h); a pass that finds
  // it taken (calls on several threads at once) allocates its own.
  std::mutex scratch_mu_;
  cpu::ForwardScratch scratch_;
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(std::shared_ptr<const Model> model,
                                        CpuBackendOptions options) {
  options.max_step_tokens = std::max(options.max_step_tokens, 1);
  return std::make_unique<CpuBackend>(std::move(model), options);
}

}  // namespace hecate
