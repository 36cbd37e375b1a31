// WriteQueue: orders a streaming reactor's outgoing messages. gRPC allows one
// outstanding write per call; producers (worker threads) push replies here
// and the queue starts the next write as each one completes.
//
// Bounded by backpressure, not by refusal: a reply already computed is always
// queued, but once the queue holds `max_messages` messages or `max_bytes`
// bytes, full() says so and the owner stops taking new work (StreamReactor
// stops reading requests) until writes drain it. A client that sends and
// never reads therefore holds at most about one queue of replies (plus what
// its in-flight requests produce) instead of one per request it ever sent.
//
// The write that starts an idle queue can be handed to another thread
// (`start_elsewhere`, e.g. the executor): the producers include the engine
// loop's pool, which applies a step's results before the next step starts,
// and gRPC may perform a started write inline (serialising, a sendmsg) on
// the calling thread. Later writes start from OnWriteDone as before.
//
// Not thread-safe by itself: the owning reactor calls every method under its
// own mutex. Works for ServerBidiReactor and ServerWriteReactor alike.
#ifndef HECATE_SERVER_WRITE_QUEUE_H_
#define HECATE_SERVER_WRITE_QUEUE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <utility>

#include "grpcpp/support/byte_buffer.h"

namespace hecate {

struct WriteQueueLimits {
  size_t max_messages = 1024;
  size_t max_bytes = size_t{4} << 20;
};

// The bytes a queued message holds (overloads for each Message type).
inline size_t MessageBytes(const grpc::ByteBuffer& message) { return message.Length(); }
inline size_t MessageBytes(const std::string& message) { return message.size(); }

template <typename Reactor, typename Message>
class WriteQueue {
 public:
  // Runs a task elsewhere; false when it cannot (then the write starts here).
  using Poster = std::function<bool(std::function<void()>)>;

  explicit WriteQueue(Reactor* reactor, WriteQueueLimits limits = {},
                      Poster start_elsewhere = nullptr)
      : reactor_(reactor), limits_(limits), start_elsewhere_(std::move(start_elsewhere)) {}

  // Queues `message`; starts writing it when nothing is in flight. Dropped
  // once a write has failed (the client is gone).
  void Push(Message message) {
    if (failed_) return;
    bytes_ += MessageBytes(message);
    queue_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      // The front stays put (a deque keeps its elements in place on
      // push_back) and nothing else starts a write before its OnWriteDone,
      // so the start may run later on another thread, without the lock.
      Reactor* reactor = reactor_;
      const Message* front = &queue_.front();
      if (start_elsewhere_ == nullptr ||
          !start_elsewhere_([reactor, front] { reactor->StartWrite(front); })) {
        reactor_->StartWrite(front);
      }
    }
  }

  // Call from OnWriteDone. A failed write drops everything still queued.
  void OnWriteDone(bool ok) {
    bytes_ -= MessageBytes(queue_.front());
    queue_.pop_front();
    if (!ok) {
      failed_ = true;
      queue_.clear();
      bytes_ = 0;
    }
    if (queue_.empty()) {
      writing_ = false;
    } else {
      reactor_->StartWrite(&queue_.front());
    }
  }

  // At or over a cap: take no new work until it turns false.
  bool full() const { return queue_.size() >= limits_.max_messages || bytes_ >= limits_.max_bytes; }
  bool idle() const { return !writing_; }
  bool failed() const { return failed_; }
  size_t size() const { return queue_.size(); }  // including the one being written
  size_t bytes() const { return bytes_; }

 private:
  Reactor* reactor_;
  const WriteQueueLimits limits_;
  const Poster start_elsewhere_;
  std::deque<Message> queue_;  // front is being written while writing_
  size_t bytes_ = 0;           // MessageBytes summed over queue_
  bool writing_ = false;
  bool failed_ = false;
};

}  // namespace hecate

#endif  // HECATE_SERVER_WRITE_QUEUE_H_
