// gemv_decode_kernel.h: the raw launch behind kernels/gemv_decode/
// gemv_decode.h. Plain C++ so both nvcc and the host compiler read it; no
// validation here.
//
// out[r, :] (+)= prologue(x)[r, :] @ W for a few rows (decode steps), with
// the row-wise stage that precedes the product fused into it:
//   kNone     x[r, i]
//   kRmsNorm  x[r, i] / sqrt(mean_i(x[r, i]^2) + 1e-6) * gain[i]  (fp64 sum)
//   kMagGate  x[r, i] * sigmoid(sum_j scale * y_j[r, i])          (MAG)
//   kSwiGlu   silu(x[r, i]) * x[r, k + i]                         (SwiGLU)
// each exactly as kernels/fused computes the stage on its own.
#ifndef HECATE_KERNELS_GEMV_DECODE_GEMV_DECODE_KERNEL_H_
#define HECATE_KERNELS_GEMV_DECODE_GEMV_DECODE_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace hecate {

// Rows one call may carry (the kernel is instantiated for 1, 2, 4 and 8).
inline constexpr int kGemvDecodeMaxRows = 8;
// Most blocks that split K (one thread-block cluster per column tile; the
// launch picks 1, 2, 4 or 8 by K and rows) and the columns of a tile.
inline constexpr int kGemvDecodeSplits = 8;
inline constexpr int kGemvDecodeTileCols = 32;
// Largest dynamic shared memory a call may need: the prologue's output for
// the block's K slice, rows rounded up to the instantiation.
inline constexpr size_t kGemvDecodeMaxSliceBytes = 32 * 1024;

enum class GemvPrologue : int { kNone = 0, kRmsNorm = 1, kMagGate = 2, kSwiGlu = 3 };

// How W is stored. kBf16 halves the bytes a decode step streams (issue 14
// item 4): W as bf16 bit patterns (bf16_weights.h), widened to fp32 in
// registers, so only the weights are rounded; x, the prologue, products,
// sums and out stay fp32.
enum class GemvWeights : int { kFp32 = 0, kBf16 = 1 };

struct GemvDecodeParams {
  int rows = 0;  // 1 .. kGemvDecodeMaxRows
  int n = 0;     // output columns, a multiple of 4
  int k = 0;     // reduction length (the prologue's output width)
  GemvPrologue prologue = GemvPrologue::kNone;
  // [rows, x_stride]: the input (kSwiGlu: gate at [0, k), up at [k, 2k)).
  const float* x = nullptr;
  size_t x_stride = 0;
  const float* gain = nullptr;  // kRmsNorm: [k], a weight (read before the PDL wait, as W)
  // kMagGate: `levels` planes of [rows, y_stride], `y_plane` floats apart.
  const float* y = nullptr;
  size_t y_stride = 0;
  size_t y_plane = 0;
  int levels = 0;
  float scale = 1;
  // [k, ldw] row-major (x @ W), 16-byte aligned, ldw >= n and a multiple of
  // 4 (fp32) or 8 (bf16: 16-byte rows for 8-wide loads). Exactly one of w
  // (kFp32) and w_bf16 (kBf16) is read.
  GemvWeights weights = GemvWeights::kFp32;
  const float* w = nullptr;
  const uint16_t* w_bf16 = nullptr;
  size_t ldw = 0;
  float* out = nullptr;  // [rows, out_stride]; columns >= n untouched
  size_t out_stride = 0;
  bool accumulate = false;  // out += product (the residual), else out =
  // Launch as a programmatic dependent of the previous kernel in the stream
  // (Hopper PDL): the weights (W and gain) are fetched while that kernel
  // finishes, so it must not write them; every read of x/y/out and every
  // write waits for it to complete.
  bool programmatic = true;
};

// Dynamic shared memory bytes a call needs (0 when rows is out of range).
size_t GemvDecodeSliceBytes(int rows, int k);

cudaError_t LaunchGemvDecodeKernel(const GemvDecodeParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_GEMV_DECODE_GEMV_DECODE_KERNEL_H_
