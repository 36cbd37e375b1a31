#include "server/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace hecate {

StopMatcher::StopMatcher(std::vector<std::string> sequences) : sequences_(std::move(sequences)) {
  for (const std::string& s : sequences_) longest_ = std::max(longest_, s.size());
  tail_.reserve(2 * longest_);
}

std::optional<int> StopMatcher::Add(uint8_t byte) {
  if (longest_ == 0) return std::nullopt;
  tail_.push_back(static_cast<char>(byte));
  // Trim in bulk so each byte costs amortised O(1) besides the compares.
  if (tail_.size() >= 2 * longest_) tail_.erase(0, tail_.size() - longest_);
  for (size_t i = 0; i < sequences_.size(); ++i) {
    const std::string& s = sequences_[i];
    if (!s.empty() && tail_.size() >= s.size() &&
        tail_.compare(tail_.size() - s.size(), s.size(), s) == 0) {
      return static_cast<int>(i);
    }
  }
  return std::nullopt;
}

}  // namespace hecate
