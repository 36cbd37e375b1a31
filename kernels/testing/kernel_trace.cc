#include "kernels/testing/kernel_trace.h"

#include <cupti.h>
#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace hecate::testing {
namespace {

constexpr size_t kBufferBytes = 4 << 20;
constexpr size_t kAlign = 8;

std::mutex mu;
std::vector<TracedActivity>* records = nullptr;  // guarded by mu

std::string Demangle(const char* name) {
  if (name == nullptr) return "?";
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                             std::free);
  return status == 0 && out != nullptr ? std::string(out.get()) : std::string(name);
}

void CUPTIAPI BufferRequested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(kAlign, kBufferBytes));
  *size = *buffer != nullptr ? kBufferBytes : 0;
  *max_records = 0;
}

void CUPTIAPI BufferCompleted(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* record = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    if (records == nullptr) continue;
    TracedActivity a;
    if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL ||
        record->kind == CUPTI_ACTIVITY_KIND_KERNEL) {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
      a = {k->start, k->end, k->streamId, int64_t(k->gridX) * k->gridY * k->gridZ,
           k->staticSharedMemory + k->dynamicSharedMemory, Demangle(k->name)};
    } else if (record->kind == CUPTI_ACTIVITY_KIND_MEMCPY) {
      const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
      a = {m->start, m->end, m->streamId, 0, 0, absl::StrCat("memcpy ", m->bytes, " bytes")};
    } else {
      continue;
    }
    records->push_back(std::move(a));
  }
  std::free(buffer);
}

absl::Status Check(CUptiResult result, const char* what) {
  if (result == CUPTI_SUCCESS) return absl::OkStatus();
  const char* text = nullptr;
  cuptiGetResultString(result, &text);
  return absl::InternalError(absl::StrCat("CUPTI ", what, ": ", text != nullptr ? text : "?"));
}

constexpr CUpti_ActivityKind kKinds[] = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
                                         CUPTI_ACTIVITY_KIND_MEMCPY};

}  // namespace

absl::Status StartKernelTrace() {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (records != nullptr) return absl::FailedPreconditionError("a kernel trace is running");
    records = new std::vector<TracedActivity>();
  }
  absl::Status status =
      Check(cuptiActivityRegisterCallbacks(BufferRequested, BufferCompleted), "callbacks");
  for (CUpti_ActivityKind kind : kKinds) {
    if (status.ok()) status = Check(cuptiActivityEnable(kind), "enable");
  }
  if (!status.ok()) {
    std::lock_guard<std::mutex> lock(mu);
    delete records;
    records = nullptr;
  }
  return status;
}

uint64_t KernelTraceNow() {
  uint64_t now = 0;
  cuptiGetTimestamp(&now);
  return now;
}

absl::StatusOr<std::vector<TracedActivity>> StopKernelTrace() {
  absl::Status status = Check(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "flush");
  for (CUpti_ActivityKind kind : kKinds) {
    const absl::Status disabled = Check(cuptiActivityDisable(kind), "disable");
    if (status.ok()) status = disabled;
  }
  std::unique_ptr<std::vector<TracedActivity>> out;
  {
    std::lock_guard<std::mutex> lock(mu);
    out.reset(records);
    records = nullptr;
  }
  if (!status.ok()) return status;
  if (out == nullptr) return absl::FailedPreconditionError("no kernel trace is running");
  std::sort(out->begin(), out->end(), [](const TracedActivity& a, const TracedActivity& b) {
    return a.start_ns < b.start_ns;
  });
  return std::move(*out);
}

}  // namespace hecate::testing
