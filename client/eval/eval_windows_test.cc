#include "client/eval/eval_windows.h"

#include <vector>

#include "gtest/gtest.h"

namespace hecate {
namespace {

TEST(SplitEvalWindowsTest, EveryByteAfterTheFirstIsScoredExactlyOnce) {
  for (size_t size = 0; size < 40; ++size) {
    for (size_t window = 1; window < 12; ++window) {
      SCOPED_TRACE(testing::Message() << "size " << size << " window " << window);
      std::vector<int> scored(size, 0);
      const std::vector<EvalWindow> windows = SplitEvalWindows(size, window);
      for (size_t k = 0; k < windows.size(); ++k) {
        const EvalWindow& w = windows[k];
        EXPECT_EQ(w.begin, k * window);
        ASSERT_LE(w.end, size);
        ASSERT_GE(w.end - w.begin, 2u) << "a window scores at least one byte";
        EXPECT_LE(w.end - w.begin, window + 1);
        for (size_t i = w.begin + 1; i < w.end; ++i) ++scored[i];
      }
      for (size_t i = 0; i < size; ++i) EXPECT_EQ(scored[i], i == 0 ? 0 : 1) << i;
    }
  }
}

TEST(SplitEvalWindowsTest, Examples) {
  const std::vector<EvalWindow> w = SplitEvalWindows(10, 4);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].begin, 0u);
  EXPECT_EQ(w[0].end, 5u);
  EXPECT_EQ(w[1].begin, 4u);
  EXPECT_EQ(w[1].end, 9u);
  EXPECT_EQ(w[2].begin, 8u);
  EXPECT_EQ(w[2].end, 10u);
  EXPECT_TRUE(SplitEvalWindows(1, 4).empty());
  EXPECT_TRUE(SplitEvalWindows(100, 0).empty());
  EXPECT_EQ(SplitEvalWindows(9, 4).size(), 2u);  // [0,5) [4,9): byte 8 is the last
}

}  // namespace
}  // namespace hecate
