// How `hecatectl eval --window=N` cuts a text: nanoGPT-style fresh windows
// in which every byte after the first is scored exactly once.
//
// Window k covers bytes [kN, min(kN + N + 1, size)): its first byte is
// context only (a fresh session does not score its first byte), so it scores
// bytes kN+1 .. kN+N, each with 1..N bytes of context. Windows start at 0, N,
// 2N, ... while they hold at least two bytes.
#ifndef HECATE_CLIENT_EVAL_EVAL_WINDOWS_H_
#define HECATE_CLIENT_EVAL_EVAL_WINDOWS_H_

#include <cstddef>
#include <vector>

namespace hecate {

struct EvalWindow {
  size_t begin = 0;  // first byte (context only)
  size_t end = 0;    // one past the last byte
};

// The windows of a text of `size` bytes; none when size < 2. `window` >= 1.
std::vector<EvalWindow> SplitEvalWindows(size_t size, size_t window);

}  // namespace hecate

#endif  // HECATE_CLIENT_EVAL_EVAL_WINDOWS_H_
