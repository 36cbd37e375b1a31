// grid_dependency.cuh: Hopper programmatic dependent launch (PDL) from the
// device side, for kernels launched with
// cudaLaunchAttributeProgrammaticStreamSerialization (gemv_decode,
// swa_decode). Device code only.
#ifndef HECATE_KERNELS_GRID_DEPENDENCY_CUH_
#define HECATE_KERNELS_GRID_DEPENDENCY_CUH_

namespace hecate {

// Waits until the kernel this one depends on has finished and its writes
// are visible; a no-op for a kernel not launched as a dependent. Nothing
// that kernel writes may be read before this.
__device__ __forceinline__ void GridDependencyWait() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
}

// Lets the next kernel in the stream, if it is a programmatic dependent,
// start its blocks now (they still wait in GridDependencyWait for this one).
__device__ __forceinline__ void LaunchDependents() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

}  // namespace hecate

#endif  // HECATE_KERNELS_GRID_DEPENDENCY_CUH_
