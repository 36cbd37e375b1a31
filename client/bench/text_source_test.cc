#include "client/bench/text_source.h"

#include <random>
#include <string>

#include "gtest/gtest.h"

namespace hecate {
namespace {

TEST(CyclicTextTest, WrapsAroundFromItsStart) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::mt19937_64 random(seed);
  std::string text(std::uniform_int_distribution<size_t>(1, 500)(random), ' ');
  for (char& c : text) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(random));
  const size_t start = std::uniform_int_distribution<size_t>(0, 5000)(random);
  std::unique_ptr<TextSource> source = MakeCyclicText(text, start);
  size_t position = start % text.size();
  for (int i = 0; i < 30; ++i) {
    const size_t bytes = std::uniform_int_distribution<size_t>(0, 1200)(random);
    const std::string got = source->Next(bytes);
    ASSERT_EQ(got.size(), bytes);
    for (size_t j = 0; j < bytes; ++j) {
      ASSERT_EQ(got[j], text[position]) << "byte " << j << " of read " << i;
      position = (position + 1) % text.size();
    }
  }
}

TEST(PseudoTextTest, SameSeedSameTextOtherSeedOtherText) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  std::unique_ptr<TextSource> a = MakePseudoText(seed);
  std::unique_ptr<TextSource> b = MakePseudoText(seed);
  std::unique_ptr<TextSource> c = MakePseudoText(seed + 1);
  // Different read sizes must not change the byte stream.
  std::string from_a = a->Next(1000);
  from_a += a->Next(3);
  from_a += a->Next(4093);
  std::string from_b = b->Next(5096);
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(c->Next(5096), from_a);
}

TEST(PseudoTextTest, LooksLikeEnglishProse) {
  const uint64_t seed = std::random_device()();
  SCOPED_TRACE(seed);
  const std::string text = MakePseudoText(seed)->Next(20000);
  ASSERT_EQ(text.size(), 20000u);
  size_t spaces = 0, letters = 0, stops = 0;
  for (char c : text) {
    ASSERT_TRUE((c >= 32 && c < 127) || c == '\n') << static_cast<int>(c);
    spaces += c == ' ';
    letters += (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    stops += c == '.' || c == '?';
  }
  EXPECT_GT(letters, text.size() * 6 / 10);
  EXPECT_GT(spaces, text.size() / 10);
  EXPECT_GT(stops, text.size() / 200);
}

}  // namespace
}  // namespace hecate
