#include "kernels/cms_slow/cms_slow.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/cuda_check.h"
#include "kernels/kernel_args.h"

namespace hecate {
namespace {

absl::Status Invalid(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("CmsSlow: ", what));
}

absl::Status Validate(const CmsSlowParams& p) {
  if (p.batch < 1 || p.batch > 65535) {
    return Invalid(absl::StrCat("batch must be in [1, 65535], got ", p.batch));
  }
  if (p.heads < 1) return Invalid(absl::StrCat("heads must be >= 1, got ", p.heads));
  if (p.dim < 4 || p.dim > 128 || p.dim % 4 != 0) {
    return Invalid(absl::StrCat("dim must be a multiple of 4 in [4, 128], got ", p.dim));
  }
  if (p.tokens < 0) return Invalid(absl::StrCat("tokens must be >= 0, got ", p.tokens));
  if (p.count < 1 || p.count > kCmsMaxLevels) {
    return Invalid(absl::StrCat("count must be in [1, ", kCmsMaxLevels, "], got ", p.count));
  }
  if (int64_t(p.heads) * p.count > 65535) {
    return Invalid("heads * count must be <= 65535");
  }
  for (int i = 0; i < p.count; ++i) {
    if (p.level[i] < 0 || p.level[i] >= p.levels) {
      return Invalid(absl::StrCat("level[", i, "] must be in [0, ", p.levels, "), got ",
                                  p.level[i]));
    }
    if (p.period[i] < 1) {
      return Invalid(absl::StrCat("period[", i, "] must be >= 1, got ", p.period[i]));
    }
    if (p.m_offset[i] % 4 != 0 || p.s_offset[i] % 4 != 0 || p.g_offset[i] % 4 != 0) {
      return Invalid(absl::StrCat("offsets of level ", i, " must be multiples of 4 floats"));
    }
    if ((p.path == CmsSlowPath::kSpans || p.path == CmsSlowPath::kSpanTiles ||
         p.path == CmsSlowPath::kChunks) &&
        p.period[i] == 1) {
      return Invalid(absl::StrCat("span paths need periods > 1, level ", i, " has period 1"));
    }
  }
  if (p.path == CmsSlowPath::kSpanTiles && !CmsSpanTilesSupport(p.dim)) {
    return Invalid(absl::StrCat("path kSpanTiles needs dim 64 or 128, got ", p.dim));
  }
  if (p.path == CmsSlowPath::kChunks && !CmsChunksSupport(p.dim, p.count, p.period)) {
    return Invalid(absl::StrCat("path kChunks needs dim 64 or 128 (got ", p.dim,
                                ") and periods that are multiples of 8 dividing ",
                                kCmsChunkWindow, " or multiples of ", kCmsChunkWindow));
  }
  const size_t width = size_t(p.heads) * p.dim;
  if (p.qkv_stride < width || p.qkv_stride % 4 != 0) {
    return Invalid(absl::StrCat("qkv_stride must be >= ", width, " and a multiple of 4, got ",
                                p.qkv_stride));
  }
  if (p.gate_stride < 3 * size_t(p.levels) * p.heads) {
    return Invalid(absl::StrCat("gate_stride must be >= ", 3 * p.levels * p.heads, ", got ",
                                p.gate_stride));
  }
  if (p.y_plane < size_t(p.batch) * p.tokens * width) {
    return Invalid(absl::StrCat("y_plane must be >= batch * tokens * heads * dim, got ",
                                p.y_plane));
  }
  if (p.ring.slots != 0) {
    if (p.ring.slots < 2 || p.ring.slots > kCmsRingMaxSlots) {
      return Invalid(absl::StrCat("ring.slots must be 0 or in [2, ", kCmsRingMaxSlots, "], got ",
                                  p.ring.slots));
    }
    if (p.tokens > 1 || p.path == CmsSlowPath::kSpans || p.path == CmsSlowPath::kSpanTiles ||
        p.path == CmsSlowPath::kChunks) {
      return Invalid("the ring decodes one token per session on the row path");
    }
    if (p.ring.origin_offset % 2 != 0 || p.ring.k_offset % 4 != 0) {
      return Invalid("ring.origin_offset must be even and ring.k_offset a multiple of 4");
    }
    for (int i = 0; i < p.count; ++i) {
      if (p.period[i] == 1) return Invalid(absl::StrCat("the ring needs periods > 1, level ", i));
      if (p.ring.e_offset[i] % 4 != 0) {
        return Invalid(absl::StrCat("ring.e_offset of level ", i, " must be a multiple of 4"));
      }
    }
  }
  return CheckKernelPointers("CmsSlow", {{p.states, "states"},
                                         {p.pulse, "pulse"},
                                         {p.q, "q", kFloat4Loads},
                                         {p.k, "k", kFloat4Loads},
                                         {p.v, "v", kFloat4Loads},
                                         {p.gates, "gates"},
                                         {p.y, "y"}});
}

// kAuto: a span-wise kernel wherever one applies and the chunk has enough
// tokens to fill its groups (the tensor-core one where the head width has
// an instantiation); the row kernel for decode and for a period-1 level
// (the delta rule has no frozen spans). Never kChunks: it is correct but
// slower (NOTES.md).
CmsSlowPath PathFor(const CmsSlowParams& p) {
  if (p.path != CmsSlowPath::kAuto) return p.path;
  if (p.tokens < kCmsSpanMinTokens) return CmsSlowPath::kRows;
  for (int i = 0; i < p.count; ++i) {
    if (p.period[i] == 1) return CmsSlowPath::kRows;
  }
  return CmsSpanTilesSupport(p.dim) ? CmsSlowPath::kSpanTiles : CmsSlowPath::kSpans;
}

}  // namespace

absl::Status CmsSlow(const CmsSlowParams& params, cudaStream_t stream) {
  HECATE_RETURN_IF_ERROR(Validate(params));
  if (params.tokens == 0) return absl::OkStatus();
  if (params.ring.slots > 0) {
    return CudaStatus(LaunchCmsRingKernel(params, stream), "CmsSlow ring launch");
  }
  switch (PathFor(params)) {
    case CmsSlowPath::kSpans:
      return CudaStatus(LaunchCmsSpanKernel(params, stream), "CmsSlow span launch");
    case CmsSlowPath::kSpanTiles:
      return CudaStatus(LaunchCmsSpanTileKernel(params, stream), "CmsSlow span tile launch");
    case CmsSlowPath::kChunks:
      return CudaStatus(LaunchCmsChunkKernel(params, stream), "CmsSlow chunk launch");
    default:
      return CudaStatus(LaunchCmsSlowKernel(params, stream), "CmsSlow launch");
  }
}

absl::Status CmsRingFold(const CmsRingFoldParams& p, cudaStream_t stream) {
  auto invalid = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("CmsRingFold: ", what));
  };
  if (p.batch < 1 || p.layers < 1 || int64_t(p.batch) * p.layers > 65535) {
    return invalid(absl::StrCat("batch and layers must be >= 1 with batch * layers <= 65535, "
                                "got ", p.batch, " and ", p.layers));
  }
  if (p.heads < 1 || p.count < 0 || p.count > kCmsMaxLevels ||
      int64_t(p.heads) * p.count > 65535) {
    return invalid("heads must be >= 1, count in [0, kCmsMaxLevels], heads * count <= 65535");
  }
  if (p.dim < 4 || p.dim > 128 || p.dim % 4 != 0) {
    return invalid(absl::StrCat("dim must be a multiple of 4 in [4, 128], got ", p.dim));
  }
  if (p.ring.slots < 2 || p.ring.slots > kCmsRingMaxSlots) {
    return invalid(absl::StrCat("ring.slots must be in [2, ", kCmsRingMaxSlots, "], got ",
                                p.ring.slots));
  }
  if (p.ring.origin_offset % 2 != 0) return invalid("ring.origin_offset must be even");
  for (int i = 0; i < p.count; ++i) {
    if (p.period[i] < 2) return invalid(absl::StrCat("period[", i, "] must be > 1"));
  }
  if (p.states == nullptr ? p.one_state == nullptr || p.batch != 1 : p.pulse == nullptr) {
    return invalid("states and pulse, or one_state with batch 1");
  }
  return CudaStatus(LaunchCmsRingFold(p, stream), "CmsRingFold launch");
}

}  // namespace hecate
