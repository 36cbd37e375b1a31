#include "runtime/backend.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace hecate {

absl::string_view WeightFormatName(WeightFormat format) {
  return format == WeightFormat::kBf16 ? "bf16" : "fp32";
}

absl::StatusOr<WeightFormat> ParseWeightFormat(absl::string_view name) {
  if (name == "fp32") return WeightFormat::kFp32;
  if (name == "bf16") return WeightFormat::kBf16;
  return absl::InvalidArgumentError(
      absl::StrCat("weight format must be fp32 or bf16, got \"", name, "\""));
}

absl::string_view GemmModeName(GemmMode mode) {
  switch (mode) {
    case GemmMode::kTf32:
      return "tf32";
    case GemmMode::k3xTf32:
      return "3xtf32";
    case GemmMode::kFp32:
      break;
  }
  return "fp32";
}

absl::StatusOr<GemmMode> ParseGemmMode(absl::string_view name) {
  if (name == "fp32") return GemmMode::kFp32;
  if (name == "tf32") return GemmMode::kTf32;
  if (name == "3xtf32") return GemmMode::k3xTf32;
  return absl::InvalidArgumentError(
      absl::StrCat("gemm mode must be fp32, tf32 or 3xtf32, got \"", name, "\""));
}

absl::Status Backend::Copy(const BackendState& from, BackendState& to) {
  ModelState host(model().config());
  HECATE_RETURN_IF_ERROR(Download(from, host));
  return Upload(host, to);
}

absl::Status Backend::ForwardBatch(absl::Span<ForwardItem> items) {
  for (ForwardItem& item : items) {
    if (item.state == nullptr) return absl::InvalidArgumentError("ForwardBatch: null state");
  }
  for (ForwardItem& item : items) {
    if (absl::Status s = Forward(*item.state, item.tokens, item.mode, item.logits); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateForward(const ModelConfig& config, absl::Span<const uint8_t> tokens,
                             LogitsMode mode, const std::vector<float>* logits) {
  if (mode != LogitsMode::kNone && logits == nullptr) {
    return absl::InvalidArgumentError("Forward: logits requested but no output vector");
  }
  if (mode == LogitsMode::kLast && tokens.empty()) {
    return absl::InvalidArgumentError("Forward: last-token logits of an empty chunk");
  }
  if (config.vocab_size < 256) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] >= config.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("Forward: token ", int{tokens[i]}, " at ",
                                                       i, " is outside the vocabulary of ",
                                                       config.vocab_size));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ForwardInSteps(absl::Span<const uint8_t> tokens, LogitsMode mode, int vocab_size,
                            int max_step_tokens, std::vector<float>* logits,
                            const std::atomic<bool>* cancel, size_t* applied, ForwardStep step) {
  if (applied != nullptr) *applied = 0;
  const int64_t vocab = vocab_size;
  const int64_t total = static_cast<int64_t>(tokens.size());
  const int64_t step_tokens = std::max(max_step_tokens, 1);
  if (mode == LogitsMode::kAll) logits->assign(total * vocab, 0.0f);
  if (mode == LogitsMode::kLast) logits->assign(vocab, 0.0f);
  for (int64_t begin = 0; begin < total; begin += step_tokens) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      return absl::CancelledError(
          absl::StrCat("forward cancelled after ", begin, " of ", total, " tokens"));
    }
    const int64_t end = std::min(total, begin + step_tokens);
    LogitsMode rows = LogitsMode::kNone;
    float* out = nullptr;
    if (mode == LogitsMode::kAll) {
      rows = LogitsMode::kAll;
      out = logits->data() + begin * vocab;
    } else if (mode == LogitsMode::kLast && end == total) {
      rows = LogitsMode::kLast;
      out = logits->data();
    }
    HECATE_RETURN_IF_ERROR(step(tokens.subspan(begin, end - begin), rows, out));
    if (applied != nullptr) *applied = static_cast<size_t>(end);
  }
  return absl::OkStatus();
}

}  // namespace hecate
