// swa_prefill_kernel.h: the raw launches behind SwaPrefill (swa_prefill.h).
// Plain C++ so both nvcc and the host compiler read it; no validation here.
#ifndef HECATE_KERNELS_SWA_PREFILL_SWA_PREFILL_KERNEL_H_
#define HECATE_KERNELS_SWA_PREFILL_SWA_PREFILL_KERNEL_H_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace hecate {

// Sliding-window attention over a chunk of `tokens` tokens per session.
// Token t of session b sits at position P + t (P = pulse[b]) and attends
// to positions max(0, P + t - W + 1) .. P + t: positions >= P come from
// this chunk's k/v, older ones from the ring as it was before the chunk.
// Which attention kernel runs: kAuto takes the tensor-core one where the
// register-tiled kernel's conditions hold (SwaPrefillTiledSupports), else
// the general one; kFfmaTiles keeps the register-tiled FFMA kernel there
// (benchmarks and parity tests compare the two).
enum class SwaPrefillKernel { kAuto, kFfmaTiles };

struct SwaPrefillParams {
  int batch = 0;
  int heads = 0;
  int dim = 0;     // d, multiple of 4, at most 128
  int window = 0;  // W
  int tokens = 0;  // T, the same for every session
  // Device array of `batch` state bases; the ring's keys [heads, W, dim]
  // start k_offset floats after each, values v_offset (StateLayout).
  float* const* states = nullptr;
  size_t k_offset = 0;
  size_t v_offset = 0;
  const uint64_t* pulse = nullptr;  // [batch] pulse id of token 0 (device)
  // Row r = b * tokens + t; head h at r * qkv_stride + h * dim.
  const float* q = nullptr;  // after RoPE
  const float* k = nullptr;  // after RoPE
  const float* v = nullptr;
  size_t qkv_stride = 0;
  float* out = nullptr;  // row r at r * out_stride + h * dim
  size_t out_stride = 0;
  float scale = 0;  // 1 / sqrt(dim)
  SwaPrefillKernel kernel = SwaPrefillKernel::kAuto;
  // The tensor-core kernel's products in one TF32 pass each instead of
  // 3xTF32 (relative error ~1e-3, the --gemm=tf32 tolerance); the other
  // kernels ignore it.
  bool tf32 = false;
};

// Attention outputs only (reads the ring, writes nothing into it): the
// tensor-core kernel (swa_prefill_mma.cu, or the register-tiled FFMA one,
// swa_prefill_tiled.cu, as params.kernel says) where they apply, else the
// general one.
cudaError_t LaunchSwaPrefillAttention(const SwaPrefillParams& params, cudaStream_t stream);
// The tiled kernels: dim 64 or 128, 16-byte aligned rows.
bool SwaPrefillTiledSupports(const SwaPrefillParams& params);
cudaError_t LaunchSwaPrefillTiled(const SwaPrefillParams& params, cudaStream_t stream);
cudaError_t LaunchSwaPrefillMma(const SwaPrefillParams& params, cudaStream_t stream);
// Writes the chunk's last min(T, W) keys and values into their ring slots.
cudaError_t LaunchSwaPrefillRingWrite(const SwaPrefillParams& params, cudaStream_t stream);

}  // namespace hecate

#endif  // HECATE_KERNELS_SWA_PREFILL_SWA_PREFILL_KERNEL_H_
