// gdr_prefill_kernel.h: the raw launches behind GdrPrefill (gdr_prefill.h).
// Plain C++ so both nvcc and the host compiler read it; no validation here.
#ifndef HECATE_KERNELS_GDR_PREFILL_GDR_PREFILL_KERNEL_H_
#define HECATE_KERNELS_GDR_PREFILL_GDR_PREFILL_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define HECATE_GDR_HOST_DEVICE __host__ __device__
#else
#define HECATE_GDR_HOST_DEVICE
#endif

namespace hecate {

// Tokens per chunk of the chunked (WY/UT) form.
inline constexpr int kGdrChunk = 64;

// Level-1 gated delta rule over `tokens` tokens for `batch` sessions x
// `heads` heads, token by token equal to (docs/MODEL.md section 2):
//   M = alpha_t * M;  M -= theta_t * (M k_t - v_t) k_t^T;  y_t = M q_t
struct GdrPrefillParams {
  int batch = 0;
  int heads = 0;
  int dim = 0;     // d: 64 or 128
  int tokens = 0;  // T, the same for every session of the call
  // Device array of `batch` state-buffer pointers; M [heads, dim, dim]
  // starts `state_offset` floats after each. Read at the start, written at
  // the end (the state after the last token).
  float* const* states = nullptr;
  size_t state_offset = 0;
  // Inputs for session b, token t, head h, element j live at
  //   q[(b * tokens + t) * qkv_stride + h * dim + j]   (likewise k, v)
  //   alpha[(b * tokens + t) * gate_stride + h]        (likewise theta)
  // so they can be read in place from projection outputs.
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  size_t qkv_stride = 0;  // >= heads * dim, multiple of 4
  const float* alpha = nullptr;
  const float* theta = nullptr;
  size_t gate_stride = 0;  // >= heads
  float* y = nullptr;      // [batch, tokens, heads, dim]
  // Scratch of at least GdrPrefillWorkspaceFloats(...) floats, 16-byte
  // aligned; workspace_floats says how many it holds.
  float* workspace = nullptr;
  size_t workspace_floats = 0;
};

// Per (session, head, chunk), in floats: the tile [W; Q'; K] (3 kGdrChunk
// rows of dim + 4, the last 4 zero: the scan's shared-memory layout, so one
// bulk copy moves it), then the key decays exp(g_last - g_s) [kGdrChunk] and
// gamma_last (padded to 4), then U~ and Y0 [kGdrChunk x dim] each. Rows past
// the end of a partial chunk are zero.
HECATE_GDR_HOST_DEVICE inline size_t GdrPrefillTileFloats(int dim) {
  return 3 * size_t(kGdrChunk) * (dim + 4);
}
HECATE_GDR_HOST_DEVICE inline size_t GdrPrefillUtOffset(int dim) {
  return GdrPrefillTileFloats(dim) + kGdrChunk + 4;
}
HECATE_GDR_HOST_DEVICE inline size_t GdrPrefillChunkFloats(int dim) {
  return GdrPrefillUtOffset(dim) + 2 * size_t(kGdrChunk) * dim;
}
inline size_t GdrPrefillWorkspaceFloats(int batch, int heads, int dim,
                                        int tokens) {
  const size_t chunks = (size_t(tokens) + kGdrChunk - 1) / kGdrChunk;
  return size_t(batch) * heads * chunks * GdrPrefillChunkFloats(dim);
}

// Dynamic shared memory each phase needs (the launcher raises the limit).
size_t GdrPrefillChunkSmemBytes(int dim);
size_t GdrPrefillScanSmemBytes(int dim);

// Phase 1: every chunk independently (grid chunks x batch*heads).
cudaError_t LaunchGdrPrefillChunkKernel(const GdrPrefillParams& params,
                                        cudaStream_t stream);
// Phase 2: chunks in order, state rows split over blocks.
cudaError_t LaunchGdrPrefillScanKernel(const GdrPrefillParams& params,
                                       cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_GDR_PREFILL_GDR_PREFILL_KERNEL_H_
