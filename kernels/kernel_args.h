// kernel_args.h: the pointer checks every kernel launcher makes before a
// launch, with errors that name the kernel and the argument.
//
//   HECATE_RETURN_IF_ERROR(CheckKernelPointers(
//       "GdrDecode", {{p.states, "states"}, {p.q, "q", kFloat4Loads}}));
//
// Returns InvalidArgument "<kernel>: <name> is null" for a null pointer and
// "<kernel>: <name> is not 16-byte aligned" for a pointer the kernel reads
// with 16-byte (float4) loads that is not aligned for them.
#ifndef HECATE_KERNELS_KERNEL_ARGS_H_
#define HECATE_KERNELS_KERNEL_ARGS_H_

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

}  // namespace hecate

#endif  // HECATE_KERNELS_KERNEL_ARGS_H_
