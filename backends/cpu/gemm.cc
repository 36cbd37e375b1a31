#include "backends/cpu/gemm.h"

#include <algorithm>
#include <cstring>

#include "base/parallel.h"

namespace hecate::cpu {
namespace {

// Micro-tile: kRows rows of C by kCols columns kept in registers while the
// k loop streams a kCols-wide panel of B.
constexpr int kRows = 4;
constexpr int kCols = 32;

#define HECATE_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// C[rows x cols] block, rows <= kRows, cols <= kCols.
// Inlined into each target clone of GemmBlock, so it is compiled per ISA.
template <int R>
__attribute__((always_inline)) inline void MicroTile(int64_t cols, int64_t k, const float* a, int64_t lda, const float* b,
                      int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  float acc[R][kCols];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < kCols; ++j) acc[r][j] = 0.0f;
  }
  if (cols == kCols) {
    for (int64_t p = 0; p < k; ++p) {
      const float* brow = b + p * ldb;
      for (int r = 0; r < R; ++r) {
        const float av = a[r * lda + p];
        for (int j = 0; j < kCols; ++j) acc[r][j] += av * brow[j];
      }
    }
  } else {
    for (int64_t p = 0; p < k; ++p) {
      const float* brow = b + p * ldb;
      for (int r = 0; r < R; ++r) {
        const float av = a[r * lda + p];
        for (int64_t j = 0; j < cols; ++j) acc[r][j] += av * brow[j];
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    float* crow = c + r * ldc;
    if (accumulate) {
      for (int64_t j = 0; j < cols; ++j) crow[j] += acc[r][j];
    } else {
      for (int64_t j = 0; j < cols; ++j) crow[j] = acc[r][j];
    }
  }
}

// k is split in blocks so that the kKBlock x kCols panel of B a column strip
// works on stays in L1 while every row tile of A passes over it.
constexpr int64_t kKBlock = 256;

// Rows [m0, m1) x columns [n0, n1) of C. Every row, a one-row product
// (decode) too, goes through the same micro-tile arithmetic: an element of C
// is the same sum in the same order whatever rows it is computed with, so
// stacking several sessions' rows (ForwardChunks) gives each the bits it
// gets alone.
HECATE_MULTIVERSION
void GemmBlock(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t k, const float* a,
               int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
               bool accumulate) {
  for (int64_t j = n0; j < n1; j += kCols) {
    const int64_t cols = std::min<int64_t>(kCols, n1 - j);
    for (int64_t p = 0; p < k; p += kKBlock) {
      const int64_t depth = std::min<int64_t>(kKBlock, k - p);
      const bool add = accumulate || p > 0;
      const float* bp = b + p * ldb + j;
      int64_t i = m0;
      for (; i + kRows <= m1; i += kRows) {
        MicroTile<kRows>(cols, depth, a + i * lda + p, lda, bp, ldb, c + i * ldc + j, ldc, add);
      }
      // The last 1-3 rows in one tile too: B's panel is read once for them
      // (row by row, two sessions' decode step read every weight twice and
      // cost 1.8x one's).
      float* const ci = c + i * ldc + j;
      const float* const ai = a + i * lda + p;
      switch (m1 - i) {
        case 3: MicroTile<3>(cols, depth, ai, lda, bp, ldb, ci, ldc, add); break;
        case 2: MicroTile<2>(cols, depth, ai, lda, bp, ldb, ci, ldc, add); break;
        case 1: MicroTile<1>(cols, depth, ai, lda, bp, ldb, ci, ldc, add); break;
        default: break;
      }
    }
  }
}

}  // namespace

void GemmSerial(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  GemmBlock(0, m, 0, n, k, a, lda, b, ldb, c, ldc, accumulate);
}

void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  // Under ~1 M multiply-adds a product runs on the caller alone: waking a
  // pool thread costs tens of us on a VM, more than splitting saves (two
  // sessions' decode step of the tiny model, 0.77 M per projection: 1.08-1.21
  // ms split at 2^18, 0.95-1.01 ms whole; one session and prefill unchanged).
  const int64_t flops = m * n * k;
  if (flops < (int64_t{1} << 20)) {
    GemmBlock(0, m, 0, n, k, a, lda, b, ldb, c, ldc, accumulate);
    return;
  }
  // Split columns in multiples of the micro-tile width; B's panels then stay
  // private to one thread's cache.
  const int64_t col_blocks = (n + kCols - 1) / kCols;
  ParallelFor(col_blocks, 1, [&](int64_t b0, int64_t b1) {
    const int64_t n0 = b0 * kCols, n1 = std::min(n, b1 * kCols);
    // Row panels of 64 keep A's panel and C's tile in L1/L2.
    for (int64_t i = 0; i < m; i += 64) {
      const int64_t rows = std::min<int64_t>(64, m - i);
      GemmBlock(0, rows, n0, n1, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
    }
  });
}

void Transpose(int64_t rows, int64_t cols, const float* in, int64_t ld_in, float* out,
               int64_t ld_out) {
  constexpr int64_t kTile = 16;
  for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t i1 = std::min(rows, i0 + kTile), j1 = std::min(cols, j0 + kTile);
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t j = j0; j < j1; ++j) out[j * ld_out + i] = in[i * ld_in + j];
      }
    }
  }
}

}  // namespace hecate::cpu
