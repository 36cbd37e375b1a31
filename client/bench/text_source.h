// Text for benchmark sessions to stream: real text from a file, or an endless
// English-like pseudo-text, so the model sees byte statistics like those of
// real traffic rather than zeros or uniform noise.
//
//   std::unique_ptr<TextSource> text = MakePseudoText(/*seed=*/7);
//   std::string chunk = text->Next(4096);  // exactly 4096 bytes
#ifndef HECATE_CLIENT_BENCH_TEXT_SOURCE_H_
#define HECATE_CLIENT_BENCH_TEXT_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace hecate {

class TextSource {
 public:
  virtual ~TextSource() = default;
  // Exactly `bytes` more bytes of text.
  virtual std::string Next(size_t bytes) = 0;
};

// Cycles through `text` (non-empty) starting at `start % text.size()`,
// wrapping at the end. Sessions given different starts stream different text.
std::unique_ptr<TextSource> MakeCyclicText(std::string text, size_t start);

// Sentences of common English words with capitals, commas and full stops,
// and a paragraph break now and then. The same seed gives the same text.
std::unique_ptr<TextSource> MakePseudoText(uint64_t seed);

}  // namespace hecate

#endif  // HECATE_CLIENT_BENCH_TEXT_SOURCE_H_
