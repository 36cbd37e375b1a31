#include "backends/cpu/cpu_backend.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "backends/cpu/forward.h"
#include "base/status_macros.h"

namespace hecate {
namespace {

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
    return ForwardInSteps(
        tokens, mode, model_->config().vocab_size, options_.max_step_tokens, logits, cancel,
        applied, [&](absl::Span<const uint8_t> step, LogitsMode rows, float* out) {
          const int64_t out_rows = rows == LogitsMode::kAll    ? static_cast<int64_t>(step.size())
                                   : rows == LogitsMode::kLast ? 1
                                                               : 0;
          cpu::ForwardChunk(*model_, constants_, forward_options, cpu->state, step, out_rows, out);
          return absl::OkStatus();
        });
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
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(std::shared_ptr<const Model> model,
                                        CpuBackendOptions options) {
  options.max_step_tokens = std::max(options.max_step_tokens, 1);
  return std::make_unique<CpuBackend>(std::move(model), options);
}

}  // namespace hecate
