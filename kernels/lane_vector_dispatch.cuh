// lane_vector_dispatch.cuh: turns a runtime row length `dim` into the
// compile-time VEC = ceil(dim / 32) that register-resident row kernels
// template on.
//
// Such kernels split a row into 32-float slices (a warp of 32 lanes x 1
// float, or 8 lanes x float4) and keep VEC slices in registers, so their
// loops must unroll over a constant; this picks that constant once, for
// every such kernel:
//
//   return DispatchLaneVector<8>(p.dim, [&](auto vec) {
//     return Launch<decltype(vec)::value>(p, stream);
//   });
//
// Returns cudaErrorInvalidValue when dim needs more than kMaxVec slices.
#ifndef HECATE_KERNELS_LANE_VECTOR_DISPATCH_CUH_
#define HECATE_KERNELS_LANE_VECTOR_DISPATCH_CUH_

#include <cuda_runtime_api.h>

#include <type_traits>

namespace hecate {

template <int kMaxVec, int kVec = 1, typename LaunchFn>
cudaError_t DispatchLaneVector(int dim, LaunchFn&& launch) {
  if ((dim + 31) / 32 == kVec) {
    return launch(std::integral_constant<int, kVec>{});
  }
  if constexpr (kVec < kMaxVec) {
    return DispatchLaneVector<kMaxVec, kVec + 1>(dim, launch);
  } else {
    return cudaErrorInvalidValue;
  }
}

}  // namespace hecate

#endif  // HECATE_KERNELS_LANE_VECTOR_DISPATCH_CUH_
