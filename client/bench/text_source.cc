#include "client/bench/text_source.h"

#include <algorithm>
#include <cctype>
#include <random>
#include <utility>

namespace hecate {
namespace {

class CyclicText : public TextSource {
 public:
  CyclicText(std::string text, size_t start)
      : text_(std::move(text)), position_(text_.empty() ? 0 : start % text_.size()) {}

  std::string Next(size_t bytes) override {
    std::string out;
    out.reserve(bytes);
    while (out.size() < bytes && !text_.empty()) {
      const size_t take = std::min(bytes - out.size(), text_.size() - position_);
      out.append(text_, position_, take);
      position_ = (position_ + take) % text_.size();
    }
    return out;
  }

 private:
  const std::string text_;
  size_t position_;
};

constexpr const char* kWords[] = {
    "the",    "of",     "and",     "to",      "in",     "a",      "is",     "that",
    "for",    "it",     "as",      "was",     "with",   "be",     "by",     "on",
    "not",    "he",     "this",    "are",     "or",     "his",    "from",   "at",
    "which",  "but",    "have",    "an",      "had",    "they",   "you",    "were",
    "their",  "one",    "all",     "we",      "can",    "her",    "has",    "there",
    "been",   "if",     "more",    "when",    "will",   "would",  "who",    "so",
    "no",     "time",   "people",  "year",    "way",    "day",    "man",    "thing",
    "woman",  "life",   "child",   "world",   "school", "state",  "family", "student",
    "group",  "country", "problem", "hand",   "part",   "place",  "case",   "week",
    "company", "system", "program", "question", "work", "government", "number", "night",
    "point",  "home",   "water",   "room",    "mother", "area",   "money",  "story",
    "fact",   "month",  "lot",     "right",   "study",  "book",   "eye",    "job",
    "word",   "business", "issue", "side",    "kind",   "head",   "house",  "service",
    "friend", "father", "power",   "hour",    "game",   "line",   "end",    "member",
    "law",    "car",    "city",    "community", "name", "president", "team", "minute",
    "idea",   "kid",    "body",    "information", "back", "parent", "face", "others",
    "level",  "office", "door",    "health",  "person", "art",    "war",    "history",
    "party",  "result", "change",  "morning", "reason", "research", "girl", "guy",
    "moment", "air",    "teacher", "force",   "education", "say",  "make",   "go",
    "know",   "take",   "see",     "come",    "think",  "look",   "want",   "give",
    "use",    "find",   "tell",    "ask",     "seem",   "feel",   "try",    "leave",
    "call",   "good",   "new",     "first",   "last",   "long",   "great",  "little",
    "own",    "other",  "old",     "big",     "high",   "different", "small", "large",
    "next",   "early",  "young",   "important", "few",  "public", "bad",    "same",
};

class PseudoText : public TextSource {
 public:
  explicit PseudoText(uint64_t seed) : random_(seed) {}

  std::string Next(size_t bytes) override {
    while (buffer_.size() < bytes) AppendSentence();
    std::string out = buffer_.substr(0, bytes);
    buffer_.erase(0, bytes);
    return out;
  }

 private:
  void AppendSentence() {
    constexpr size_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);
    std::uniform_int_distribution<size_t> word(0, kWordCount - 1);
    std::uniform_int_distribution<int> length(4, 18);
    std::uniform_int_distribution<int> percent(0, 99);
    const int words = length(random_);
    for (int i = 0; i < words; ++i) {
      std::string w = kWords[word(random_)];
      if (i == 0) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
      buffer_ += w;
      if (i + 1 < words) buffer_ += percent(random_) < 8 ? ", " : " ";
    }
    buffer_ += percent(random_) < 10 ? "?" : ".";
    buffer_ += percent(random_) < 15 ? "\n\n" : " ";
  }

  std::mt19937_64 random_;
  std::string buffer_;
};

}  // namespace

std::unique_ptr<TextSource> MakeCyclicText(std::string text, size_t start) {
  return std::make_unique<CyclicText>(std::move(text), start);
}

std::unique_ptr<TextSource> MakePseudoText(uint64_t seed) {
  return std::make_unique<PseudoText>(seed);
}

}  // namespace hecate
