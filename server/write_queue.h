// WriteQueue: orders a streaming reactor's outgoing messages. gRPC allows one
// outstanding write per call; producers (worker threads) push replies here
// and the queue starts the next write as each one completes.
//
// Not thread-safe by itself: the owning reactor calls every method under its
// own mutex. Works for ServerBidiReactor and ServerWriteReactor alike.
#ifndef HECATE_SERVER_WRITE_QUEUE_H_
#define HECATE_SERVER_WRITE_QUEUE_H_

#include <deque>

namespace hecate {

template <typename Reactor, typename Message>
class WriteQueue {
 public:
  explicit WriteQueue(Reactor* reactor) : reactor_(reactor) {}

  // Queues `message`; starts writing it when nothing is in flight. Dropped
  // once a write has failed (the client is gone).
  void Push(Message message) {
    if (failed_) return;
    queue_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      reactor_->StartWrite(&queue_.front());
    }
  }

  // Call from OnWriteDone. A failed write drops everything still queued.
  void OnWriteDone(bool ok) {
    queue_.pop_front();
    if (!ok) {
      failed_ = true;
      queue_.clear();
    }
    if (queue_.empty()) {
      writing_ = false;
    } else {
      reactor_->StartWrite(&queue_.front());
    }
  }

  bool idle() const { return !writing_; }
  bool failed() const { return failed_; }

 private:
  Reactor* reactor_;
  std::deque<Message> queue_;  // front is being written while writing_
  bool writing_ = false;
  bool failed_ = false;
};

}  // namespace hecate

#endif  // HECATE_SERVER_WRITE_QUEUE_H_
