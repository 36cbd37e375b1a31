// kernel_args.h: the pointer checks every kernel launcher makes before a
// launch, with errors that name the kernel and the argument.
//
//   HECATE_RETURN_IF_ERROR(CheckKernelPointers(
//       "GdrDecode", {{p.states, "states"}, {p.q, "q", kFloat4Loads}}));
//
// Returns InvalidArgument "<kernel>: <name> is null" for a null pointer and
// "<kernel>: <name> is not 16-byte aligned" for a pointer the kernel reads
// with 16-byte (float4) loads that is not aligned for them.
//
//   HECATE_RETURN_IF_ERROR(CheckNoOverlap(
//       "GdrPrefill", {{p.y, y_floats, "y"}}, {{p.q, q_floats, "q"}}));
//
// Returns InvalidArgument "<kernel>: <output> overlaps <other>" when the
// address range a kernel writes meets one it reads, or another it writes
// (inputs may share memory with each other).
#ifndef HECATE_KERNELS_KERNEL_ARGS_H_
#define HECATE_KERNELS_KERNEL_ARGS_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace hecate {

inline constexpr bool kFloat4Loads = true;

struct KernelPointerArg {
  const void* ptr;
  const char* name;
  bool float4_loads = false;  // accessed with 16-byte vector loads/stores
};

inline absl::Status CheckKernelPointers(absl::string_view kernel,
                                        std::initializer_list<KernelPointerArg> args) {
  for (const KernelPointerArg& arg : args) {
    if (arg.ptr == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(kernel, ": ", arg.name, " is null"));
    }
    if (arg.float4_loads && reinterpret_cast<uintptr_t>(arg.ptr) % 16 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(kernel, ": ", arg.name, " is not 16-byte aligned"));
    }
  }
  return absl::OkStatus();
}

// The floats a kernel touches from `ptr`: the span of its elements, not
// the capacity of the allocation.
struct KernelBufferExtent {
  const void* ptr;
  size_t floats;
  const char* name;
};

// Floats spanned by `rows` rows of `width` floats each, `stride` apart.
inline size_t StridedFloats(size_t rows, size_t stride, size_t width) {
  return rows == 0 ? 0 : (rows - 1) * stride + width;
}

inline absl::Status CheckNoOverlap(absl::string_view kernel,
                                   std::initializer_list<KernelBufferExtent> outputs,
                                   std::initializer_list<KernelBufferExtent> inputs) {
  auto meet = [](const KernelBufferExtent& a, const KernelBufferExtent& b) {
    if (a.floats == 0 || b.floats == 0) return false;
    const uintptr_t a0 = reinterpret_cast<uintptr_t>(a.ptr);
    const uintptr_t b0 = reinterpret_cast<uintptr_t>(b.ptr);
    return a0 < b0 + b.floats * sizeof(float) && b0 < a0 + a.floats * sizeof(float);
  };
  for (auto out = outputs.begin(); out != outputs.end(); ++out) {
    for (auto other = out + 1; other != outputs.end(); ++other) {
      if (meet(*out, *other)) {
        return absl::InvalidArgumentError(
            absl::StrCat(kernel, ": ", out->name, " overlaps ", other->name));
      }
    }
    for (const KernelBufferExtent& in : inputs) {
      if (meet(*out, in)) {
        return absl::InvalidArgumentError(
            absl::StrCat(kernel, ": ", out->name, " overlaps ", in.name));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace hecate

#endif  // HECATE_KERNELS_KERNEL_ARGS_H_
