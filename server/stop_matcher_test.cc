#include "server/stop_matcher.h"

#include <random>
#include <string>
#include <vector>

#include "base/test_seed.h"
#include "gtest/gtest.h"

namespace hecate {
namespace {

// Feeds `text` and returns (bytes fed when it stopped, sequence), or
// (text.size(), -1) when nothing matched.
std::pair<size_t, int> FirstStop(const std::vector<std::string>& sequences,
                                 const std::string& text) {
  StopMatcher matcher(sequences);
  for (size_t i = 0; i < text.size(); ++i) {
    if (std::optional<int> hit = matcher.Add(static_cast<uint8_t>(text[i]))) {
      return {i + 1, *hit};
    }
  }
  return {text.size(), -1};
}

std::pair<size_t, int> Stop(size_t bytes, int sequence) { return {bytes, sequence}; }

TEST(StopMatcherTest, FindsMultiByteSequencesWhereverTheyEnd) {
  EXPECT_EQ(FirstStop({"\n\n"}, "ab\ncd\n\nef"), Stop(7, 0));
  EXPECT_EQ(FirstStop({"END", "x"}, "the END"), Stop(7, 0));
  EXPECT_EQ(FirstStop({"END", "x"}, "an x"), Stop(4, 1));
  EXPECT_EQ(FirstStop({"abc"}, "ab ab"), Stop(5, -1));
}

TEST(StopMatcherTest, OverlappingPrefixesAreNotSkipped) {
  // A naive matcher that restarts after a failed partial match misses these.
  EXPECT_EQ(FirstStop({"aab"}, "aaab").first, 4u);
  EXPECT_EQ(FirstStop({"abab"}, "ababab").first, 4u);
  EXPECT_EQ(FirstStop({"abac"}, "abababac").first, 8u);
}

TEST(StopMatcherTest, LowestIndexWinsWhenSeveralEndTogether) {
  EXPECT_EQ(FirstStop({"bc", "abc"}, "xabc"), Stop(4, 0));
  EXPECT_EQ(FirstStop({"abc", "bc"}, "xabc"), Stop(4, 0));
}

TEST(StopMatcherTest, EmptyListAndEmptySequencesNeverMatch) {
  StopMatcher none({});
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(none.Add('a').has_value());
  EXPECT_EQ(FirstStop({"", "zz"}, "abc").second, -1);
}

TEST(StopMatcherTest, AgreesWithSearchingTheWholeText) {
  std::mt19937_64 rng(TestSeed());
  for (int trial = 0; trial < 300; ++trial) {
    // A small alphabet so that partial matches are frequent.
    std::vector<std::string> sequences(1 + rng() % 4);
    for (std::string& s : sequences) {
      s.resize(1 + rng() % 6);
      for (char& c : s) c = static_cast<char>('a' + rng() % 3);
    }
    std::string text(rng() % 200, 'a');
    for (char& c : text) c = static_cast<char>('a' + rng() % 3);
    // Reference: the shortest prefix that ends with some sequence.
    size_t want_len = text.size();
    int want = -1;
    for (size_t n = 1; n <= text.size() && want < 0; ++n) {
      for (size_t i = 0; i < sequences.size(); ++i) {
        const std::string& s = sequences[i];
        if (s.size() <= n && text.compare(n - s.size(), s.size(), s) == 0) {
          want_len = n;
          want = static_cast<int>(i);
          break;
        }
      }
    }
    EXPECT_EQ(FirstStop(sequences, text), std::make_pair(want_len, want)) << text;
  }
}

}  // namespace
}  // namespace hecate
