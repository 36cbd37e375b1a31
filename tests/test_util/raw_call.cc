#include "tests/test_util/raw_call.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"

namespace hecate::testing {

grpc::ByteBuffer BytesToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string BufferToBytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

namespace {

std::shared_ptr<grpc::Channel> Channel(const std::string& target,
                                      bool small_receive_window = false) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (small_receive_window) {
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 << 10);
  }
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

}  // namespace

grpc::Status RawUnaryCall(const std::string& target, const std::string& method,
                          const std::string& api_key, const std::string& request,
                          std::string* response) {
  grpc::GenericStub stub(Channel(target));
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", api_key));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  const grpc::ByteBuffer request_buffer = BytesToBuffer(request);
  grpc::ByteBuffer response_buffer;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (response != nullptr) *response = BufferToBytes(response_buffer);
  return status;
}

RawStream::RawStream(const std::string& target, const std::string& method,
                     const std::string& api_key, bool small_receive_window) {
  context_.AddMetadata("authorization", absl::StrCat("Bearer ", api_key));
  context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(300));
  grpc::GenericStub stub(Channel(target, small_receive_window));
  call_ = stub.PrepareCall(&context_, method, &cq_);
  const intptr_t tag = next_tag_++;
  call_->StartCall(reinterpret_cast<void*>(tag));
  (void)Await(tag, absl::Seconds(60));
}

RawStream::~RawStream() {
  if (!finished_) {
    context_.TryCancel();
    (void)Finish();
  }
  cq_.Shutdown();
  void* tag;
  bool ok;
  while (cq_.Next(&tag, &ok)) {
  }
}

std::optional<bool> RawStream::Await(intptr_t tag, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (auto it = completed_.find(tag); it != completed_.end()) {
      const bool ok = it->second;
      completed_.erase(it);
      return ok;
    }
    void* got;
    bool ok;
    const grpc::CompletionQueue::NextStatus next =
        cq_.AsyncNext(&got, &ok, absl::ToChronoTime(deadline));
    if (next != grpc::CompletionQueue::GOT_EVENT) return std::nullopt;
    completed_[reinterpret_cast<intptr_t>(got)] = ok;
  }
}

bool RawStream::AwaitPendingWrite(absl::Duration timeout) {
  if (!pending_write_.has_value()) return true;
  std::optional<bool> ok = Await(*pending_write_, timeout);
  if (!ok.has_value()) return false;
  pending_write_.reset();
  return *ok;
}

bool RawStream::Write(const std::string& bytes, absl::Duration timeout) {
  if (!AwaitPendingWrite(timeout)) return false;
  const intptr_t tag = next_tag_++;
  call_->Write(BytesToBuffer(bytes), reinterpret_cast<void*>(tag));
  std::optional<bool> ok = Await(tag, timeout);
  if (!ok.has_value()) {
    pending_write_ = tag;
    return false;
  }
  return *ok;
}

std::optional<std::string> RawStream::Read(absl::Duration timeout) {
  grpc::ByteBuffer buffer;
  const intptr_t tag = next_tag_++;
  call_->Read(&buffer, reinterpret_cast<void*>(tag));
  std::optional<bool> ok = Await(tag, timeout);
  if (!ok.has_value()) {
    // The read stays outstanding on `buffer`: cancel and wait it out.
    context_.TryCancel();
    (void)Await(tag, absl::Seconds(60));
    return std::nullopt;
  }
  if (!*ok) return std::nullopt;
  return BufferToBytes(buffer);
}

void RawStream::WritesDone() {
  if (!AwaitPendingWrite(absl::Seconds(60))) return;
  const intptr_t tag = next_tag_++;
  call_->WritesDone(reinterpret_cast<void*>(tag));
  (void)Await(tag, absl::Seconds(60));
}

grpc::Status RawStream::Finish() {
  grpc::Status status;
  const intptr_t tag = next_tag_++;
  call_->Finish(&status, reinterpret_cast<void*>(tag));
  if (!Await(tag, absl::Seconds(60)).has_value()) {
    context_.TryCancel();
    (void)Await(tag, absl::Seconds(60));
  }
  finished_ = true;
  return status;
}

}  // namespace hecate::testing
