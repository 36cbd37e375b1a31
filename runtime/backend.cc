#include "runtime/backend.h"

namespace hecate {

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

}  // namespace hecate
