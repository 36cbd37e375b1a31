#include "client/eval/eval_windows.h"

#include <algorithm>

namespace hecate {

std::vector<EvalWindow> SplitEvalWindows(size_t size, size_t window) {
  std::vector<EvalWindow> windows;
  if (window == 0) return windows;
  for (size_t begin = 0; begin + 1 < size; begin += window) {
    windows.push_back({begin, std::min(size, begin + window + 1)});
  }
  return windows;
}

}  // namespace hecate
