// gemv_prep_kernel.h: the raw launch behind kernels/gemv_decode/
// gemv_prep.h. Plain C++ so both nvcc and the host compiler read it; no
// validation here.
//
// The qkv+gates projection of a decode step with kernels/fused's MixerPrep
// as its epilogue: proj = prologue(x) @ W is never written; each tile of
// 128 columns (whole heads of one of qa | ka | va | qm | km | vm, or the
// gates) goes straight through MixerPrep's operation for those columns
// (RoPE at the row's pulse id, silu + l2norm per head, silu, sigmoid(z +
// bias)) into MixerPrep's outputs.
#ifndef HECATE_KERNELS_GEMV_DECODE_GEMV_PREP_KERNEL_H_
#define HECATE_KERNELS_GEMV_DECODE_GEMV_PREP_KERNEL_H_

#include <cuda_runtime_api.h>

#include "kernels/fused/fused_kernels.h"
#include "kernels/gemv_decode/gemv_decode_kernel.h"

namespace hecate {

// Columns of a tile: heads must tile it (128 % dim == 0) and D too.
inline constexpr int kGemvPrepTileCols = 128;
// Dynamic shared memory a call may take: with the kernel's static arrays
// within the 48 KB a block gets without opting in.
inline constexpr size_t kGemvPrepMaxDynamicBytes = 39 * 1024;

struct GemvPrepParams {
  // The projection; out and out_stride are unused (nothing is accumulated).
  GemvDecodeParams gemv;
  // MixerPrep's sizes and outputs; proj and proj_stride are unused (the
  // projection's columns are gemv.n >= 6 * heads * dim + 3 * levels * heads
  // in MixerPrep's order), batch * tokens == gemv.rows.
  MixerPrepParams prep;
};

// Dynamic shared memory bytes a call needs (0 when rows is out of range).
size_t GemvPrepSharedBytes(int rows, int k, GemvWeights weights);

cudaError_t LaunchGemvPrepKernel(const GemvPrepParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_GEMV_DECODE_GEMV_PREP_KERNEL_H_
