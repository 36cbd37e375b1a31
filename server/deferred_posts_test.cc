// DeferredPosts: posts made while one is open reach the executor as one
// task per executor, in order, when it closes; none before; undeferred
// outside; run inline when the executor refuses.
#include "server/deferred_posts.h"

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/executor.h"

namespace hecate {
namespace {

TEST(DeferredPostsTest, CollectedPostsRunAsOneTaskInOrderAfterClose) {
  Executor executor(Executor::kManual);
  Executor other(Executor::kManual);
  std::vector<std::string> ran;
  auto post = PostDeferrableTo(&executor);
  auto post_other = PostDeferrableTo(&other);
  {
    DeferredPosts batch;
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(post([&ran, i] { ran.push_back("a" + std::to_string(i)); }));
    }
    EXPECT_TRUE(post_other([&ran] { ran.push_back("b"); }));
    {
      DeferredPosts inner;  // collects nothing of its own
      EXPECT_TRUE(post([&ran] { ran.push_back("a5"); }));
    }
    EXPECT_EQ(executor.queued(), 0u) << "nothing posted while the batch is open";
  }
  EXPECT_EQ(executor.queued(), 1u);
  EXPECT_EQ(other.queued(), 1u);
  EXPECT_TRUE(executor.RunOne());
  EXPECT_EQ(ran, (std::vector<std::string>{"a0", "a1", "a2", "a3", "a4", "a5"}));
  EXPECT_TRUE(other.RunOne());
  EXPECT_EQ(ran.back(), "b");
}

TEST(DeferredPostsTest, OutsideABatchPostsAtOnce) {
  Executor executor(Executor::kManual);
  int ran = 0;
  EXPECT_TRUE(PostDeferrableTo(&executor)([&ran] { ++ran; }));
  EXPECT_EQ(executor.queued(), 1u);
  EXPECT_TRUE(executor.RunOne());
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(PostDeferrableTo(nullptr), nullptr);
}

TEST(DeferredPostsTest, ABatchTheExecutorRefusesRunsWhereItCloses) {
  Executor executor(1);
  executor.Shutdown();
  int ran = 0;
  {
    DeferredPosts batch;
    EXPECT_TRUE(PostDeferrableTo(&executor)([&ran] { ++ran; }));
    EXPECT_EQ(ran, 0);
  }
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace hecate
