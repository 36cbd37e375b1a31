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
// Not thread-safe by itself: the owning reactor calls every method under its
// own mutex. Works for ServerBidiReactor and ServerWriteReactor alike.
#ifndef HECATE_SERVER_WRITE_QUEUE_H_
#define HECATE_SERVER_WRITE_QUEUE_H_

#include <cstddef>
#include <deque>
#include <string>

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
  explicit WriteQueue(Reactor* reactor, WriteQueueLimits limits = {})
      : reactor_(reactor), limits_(limits) {}

  // Queues `message`; starts writing it when nothing is in flight. Dropped
  // once a write has failed (the client is gone).
  void Push(Message message) {
    if (failed_) return;
    bytes_ += MessageBytes(message);
    queue_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      reactor_->StartWrite(&queue_.front());
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
  std::deque<Message> queue_;  // front is being written while writing_
  size_t bytes_ = 0;           // MessageBytes summed over queue_
  bool writing_ = false;
  bool failed_ = false;
};

}  // namespace hecate

#endif  // HECATE_SERVER_WRITE_QUEUE_H_
