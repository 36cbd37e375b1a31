#include "server/write_queue.h"

#include <functional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hecate {
namespace {

// Records what the queue asks to write; the test completes writes by hand.
struct FakeReactor {
  void StartWrite(const std::string* message) { started.push_back(*message); }
  std::vector<std::string> started;
};

TEST(WriteQueueTest, WritesOneAtATimeInOrder) {
  FakeReactor reactor;
  WriteQueue<FakeReactor, std::string> queue(&reactor);
  EXPECT_TRUE(queue.idle());
  queue.Push("a");
  queue.Push("b");
  queue.Push("c");
  EXPECT_EQ(reactor.started, std::vector<std::string>({"a"}));
  queue.OnWriteDone(true);
  queue.OnWriteDone(true);
  EXPECT_EQ(reactor.started, std::vector<std::string>({"a", "b", "c"}));
  queue.OnWriteDone(true);
  EXPECT_TRUE(queue.idle());
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.bytes(), 0u);
}

// The write that starts an idle queue goes to the poster and runs when the
// poster runs it, with the message still in place behind later pushes; a
// poster that refuses makes it start at once. Later writes start from
// OnWriteDone.
TEST(WriteQueueTest, TheFirstWriteCanStartElsewhere) {
  FakeReactor reactor;
  std::vector<std::function<void()>> posted;
  bool accept = true;
  WriteQueue<FakeReactor, std::string> queue(&reactor, {}, [&](std::function<void()> task) {
    if (!accept) return false;
    posted.push_back(std::move(task));
    return true;
  });
  queue.Push("a");
  for (int i = 0; i < 100; ++i) queue.Push("b" + std::to_string(i));  // the deque grows
  EXPECT_TRUE(reactor.started.empty());
  EXPECT_FALSE(queue.idle());
  ASSERT_EQ(posted.size(), 1u);
  posted[0]();
  EXPECT_EQ(reactor.started, std::vector<std::string>({"a"}));
  queue.OnWriteDone(true);
  EXPECT_EQ(reactor.started.back(), "b0");
  EXPECT_EQ(posted.size(), 1u);
  for (int i = 0; i < 100; ++i) queue.OnWriteDone(true);
  EXPECT_TRUE(queue.idle());
  accept = false;
  queue.Push("c");
  EXPECT_EQ(reactor.started.back(), "c");
  EXPECT_EQ(posted.size(), 1u);
}

TEST(WriteQueueTest, FullAtTheMessageCapUntilWritesDrainIt) {
  FakeReactor reactor;
  WriteQueue<FakeReactor, std::string> queue(&reactor, {.max_messages = 3, .max_bytes = 1000});
  queue.Push("1");
  queue.Push("2");
  EXPECT_FALSE(queue.full());
  queue.Push("3");
  EXPECT_TRUE(queue.full());
  // Never refuses a reply: past the cap it still queues (and stays full).
  queue.Push("4");
  EXPECT_EQ(queue.size(), 4u);
  EXPECT_TRUE(queue.full());
  queue.OnWriteDone(true);
  EXPECT_TRUE(queue.full());
  queue.OnWriteDone(true);
  EXPECT_FALSE(queue.full());
  EXPECT_EQ(queue.size(), 2u);
}

TEST(WriteQueueTest, FullAtTheByteCap) {
  FakeReactor reactor;
  WriteQueue<FakeReactor, std::string> queue(&reactor, {.max_messages = 100, .max_bytes = 10});
  queue.Push(std::string(6, 'x'));
  EXPECT_FALSE(queue.full());
  EXPECT_EQ(queue.bytes(), 6u);
  queue.Push(std::string(4, 'y'));
  EXPECT_TRUE(queue.full());
  EXPECT_EQ(queue.bytes(), 10u);
  queue.OnWriteDone(true);
  EXPECT_FALSE(queue.full());
  EXPECT_EQ(queue.bytes(), 4u);
}

TEST(WriteQueueTest, AFailedWriteDropsEverythingAndEmptiesTheQueue) {
  FakeReactor reactor;
  WriteQueue<FakeReactor, std::string> queue(&reactor, {.max_messages = 2, .max_bytes = 1000});
  queue.Push("a");
  queue.Push("b");
  queue.Push("c");
  ASSERT_TRUE(queue.full());
  queue.OnWriteDone(false);
  EXPECT_TRUE(queue.failed());
  EXPECT_TRUE(queue.idle());
  EXPECT_FALSE(queue.full());
  EXPECT_EQ(queue.bytes(), 0u);
  queue.Push("d");  // the client is gone: dropped
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(reactor.started, std::vector<std::string>({"a"}));
}

}  // namespace
}  // namespace hecate
