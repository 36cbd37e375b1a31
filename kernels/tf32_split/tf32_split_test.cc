// Tf32SplitRows against the host reference (tf32_split_reference.h), bit for
// bit, on fresh random bit patterns (NaN, infinities, subnormals, ties
// included) at awkward shapes, strides and offsets (the float4 path, the
// scalar path), nothing written outside the [rows, cols] parts; and
// AddTf32Products against Tf32ProductSum the same way.
#include "kernels/tf32_split/tf32_split.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "base/float_bits.h"
#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/cuda_test_util.h"
#include "kernels/tf32_split/tf32_split_reference.h"

namespace hecate {
namespace {

TEST(Tf32SplitRowsTest, RejectsBadArguments) {
  // Validation happens before any CUDA call, so this runs without a GPU too.
  float buffer[64];
  float* const in = buffer;
  float* const hi = buffer + 16;
  float* const lo = buffer + 32;
  auto code = [](absl::Status s) { return s.code(); };
  EXPECT_TRUE(Tf32SplitRows(nullptr, 0, 5, 5, nullptr, nullptr, 5, nullptr).ok());
  EXPECT_EQ(code(Tf32SplitRows(in, -1, 4, 4, hi, lo, 4, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Tf32SplitRows(in, 2, 4, 3, hi, lo, 4, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Tf32SplitRows(in, 2, 4, 4, hi, lo, 3, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Tf32SplitRows(nullptr, 2, 4, 4, hi, lo, 4, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Tf32SplitRows(in, 2, 4, 4, hi, nullptr, 4, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Tf32SplitRows(in, 2, 8, 8, hi, hi + 8, 8, nullptr)),  // hi meets lo
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(Tf32SplitRows(in, 3, 8, 8, hi, buffer + 40, 8,
                               nullptr)),  // in meets hi
            absl::StatusCode::kInvalidArgument);
}

TEST(Tf32SplitRowsTest, MatchesReferenceBitForBit) {
  HECATE_SKIP_WITHOUT_CUDA();
  std::mt19937_64 rng = testing::FreshRng("Tf32SplitRowsTest");
  struct Shape {
    int rows, cols;
    size_t ld_in, ld_out, in_offset, out_offset;
  };
  std::vector<Shape> shapes = {{1, 1, 1, 1, 0, 0},
                               {3, 7, 7, 7, 0, 0},
                               {16, 256, 256, 256, 0, 0},
                               {33, 100, 200, 100, 0, 0},  // W2's activation: half of each h13 row
                               {5, 64, 68, 64, 1, 0},      // unaligned input: the scalar path
                               {9, 460, 460, 464, 0, 4},
                               {2048, 72, 72, 72, 0, 0},
                               {70000, 4, 4, 4, 0, 0},
                               {1, 100003, 100003, 100003, 0, 0}};
  for (int i = 0; i < 4; ++i) {
    const int cols = 1 + static_cast<int>(rng() % 700);
    shapes.push_back({1 + static_cast<int>(rng() % 300), cols, cols + rng() % 9, cols + rng() % 9,
                      rng() % 8, rng() % 8});
  }
  constexpr uint32_t kSentinel = 0x7F7F7F7Fu;
  for (const Shape& s : shapes) {
    SCOPED_TRACE(::testing::Message()
                 << s.rows << " x " << s.cols << " ld " << s.ld_in << "/" << s.ld_out << " offsets "
                 << s.in_offset << "/" << s.out_offset);
    std::vector<float> in(s.in_offset + size_t(s.rows) * s.ld_in);
    for (float& x : in) {
      // Half arbitrary bit patterns (every class), half normal values with
      // some exact ties among them.
      uint32_t bits = static_cast<uint32_t>(rng());
      if (rng() % 2 == 0) {
        bits = (bits & 0x807FFFFFu) | ((100 + static_cast<uint32_t>(rng() % 56)) << 23);
        if (rng() % 8 == 0) bits = (bits & ~0x1FFFu) | 0x1000u;
      }
      std::memcpy(&x, &bits, sizeof(x));
    }
    const size_t out_size = s.out_offset + size_t(s.rows) * s.ld_out;
    auto d_in = DeviceBuffer<float>::Create(in.size());
    auto d_hi = DeviceBuffer<float>::Create(out_size);
    auto d_lo = DeviceBuffer<float>::Create(out_size);
    ASSERT_TRUE(d_in.ok() && d_hi.ok() && d_lo.ok());
    ASSERT_TRUE(d_in->CopyFromHost(in).ok());
    ASSERT_TRUE(d_hi->Fill(0x7f).ok());
    ASSERT_TRUE(d_lo->Fill(0x7f).ok());
    const absl::Status status =
        Tf32SplitRows(d_in->data() + s.in_offset, s.rows, s.cols, s.ld_in,
                      d_hi->data() + s.out_offset, d_lo->data() + s.out_offset, s.ld_out, nullptr);
    ASSERT_TRUE(status.ok()) << status;
    std::vector<float> hi(out_size), lo(out_size);
    ASSERT_TRUE(d_hi->CopyToHost(absl::MakeSpan(hi)).ok());
    ASSERT_TRUE(d_lo->CopyToHost(absl::MakeSpan(lo)).ok());
    size_t wrong = 0;
    for (size_t i = 0; i < out_size; ++i) {
      const bool inside = i >= s.out_offset && (i - s.out_offset) % s.ld_out < size_t(s.cols);
      uint32_t want_hi = kSentinel, want_lo = kSentinel;
      float x = 0;
      if (inside) {
        const size_t r = (i - s.out_offset) / s.ld_out, c = (i - s.out_offset) % s.ld_out;
        x = in[s.in_offset + r * s.ld_in + c];
        const Tf32Parts p = Tf32Split(x);
        want_hi = FloatBits(p.hi);
        want_lo = FloatBits(p.lo);
      }
      if ((FloatBits(hi[i]) != want_hi || FloatBits(lo[i]) != want_lo) && wrong++ < 5) {
        ADD_FAILURE() << "index " << i << (inside ? "" : " (outside)") << ": x 0x" << std::hex
                      << FloatBits(x) << " got hi 0x" << FloatBits(hi[i]) << " lo 0x"
                      << FloatBits(lo[i]) << ", want 0x" << want_hi << " 0x" << want_lo;
      }
    }
    EXPECT_EQ(wrong, 0u);
  }
}

TEST(AddTf32ProductsTest, RejectsBadArguments) {
  float buffer[64];
  float* const p = buffer;
  float* const c = buffer + 32;
  auto code = [](absl::Status s) { return s.code(); };
  EXPECT_TRUE(AddTf32Products(nullptr, nullptr, 4, 0, 4, 1.0f, nullptr, 4, nullptr).ok());
  EXPECT_EQ(code(AddTf32Products(p, p + 8, 4, 2, -1, 1.0f, c, 4, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(AddTf32Products(p, p + 8, 3, 2, 4, 1.0f, c, 4, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(AddTf32Products(p, p + 8, 4, 2, 4, 1.0f, c, 3, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(AddTf32Products(p, nullptr, 4, 2, 4, 1.0f, c, 4, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(AddTf32Products(p, p + 8, 4, 2, 4, 1.0f, nullptr, 4, nullptr)),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code(AddTf32Products(p, c - 4, 4, 2, 4, 1.0f, c, 4,
                                 nullptr)),  // lo meets c
            absl::StatusCode::kInvalidArgument);
}

TEST(AddTf32ProductsTest, MatchesReferenceBitForBit) {
  HECATE_SKIP_WITHOUT_CUDA();
  std::mt19937_64 rng = testing::FreshRng("AddTf32ProductsTest");
  struct Shape {
    int rows, cols;
    size_t ld_p, ldc, c_offset;
    float beta;
  };
  // The stacked layout (lo rows right after hi's), residual (beta 1) and
  // fresh (beta 0: c is NaN and must not be read) outputs, odd widths and
  // offsets for the scalar path; powers of two for beta, so the host's
  // beta * c is exact and the reference is bit-exact however it compiles.
  std::vector<Shape> shapes = {
      {1, 1, 1, 1, 0, 1.0f},       {19, 1024, 1024, 1024, 0, 0.0f},  {20, 460, 460, 464, 0, 1.0f},
      {7, 100, 100, 200, 1, 0.5f}, {256, 5504, 5504, 5504, 0, 0.0f}, {3, 64, 68, 64, 0, 2.0f}};
  for (int i = 0; i < 4; ++i) {
    const int cols = 1 + static_cast<int>(rng() % 700);
    shapes.push_back({1 + static_cast<int>(rng() % 300), cols, cols + rng() % 9, cols + rng() % 9,
                      rng() % 8, i % 2 == 0 ? 0.0f : 1.0f});
  }
  std::normal_distribution<float> normal;
  for (const Shape& s : shapes) {
    SCOPED_TRACE(::testing::Message() << s.rows << " x " << s.cols << " ld " << s.ld_p << "/"
                                      << s.ldc << " offset " << s.c_offset << " beta " << s.beta);
    // [hi rows; lo rows] in one buffer, as the stacked GEMM writes them.
    const size_t half = size_t(s.rows) * s.ld_p;
    std::vector<float> p(2 * half), c(s.c_offset + size_t(s.rows) * s.ldc);
    for (size_t i = 0; i < half; ++i) {
      p[i] = normal(rng);
      p[half + i] = std::ldexp(normal(rng), -11);  // the lo products: ~2^-11 of hi
    }
    for (float& x : c) x = s.beta == 0.0f ? std::nanf("") : normal(rng);
    auto d_p = DeviceBuffer<float>::Create(p.size());
    auto d_c = DeviceBuffer<float>::Create(c.size());
    ASSERT_TRUE(d_p.ok() && d_c.ok());
    ASSERT_TRUE(d_p->CopyFromHost(p).ok());
    ASSERT_TRUE(d_c->CopyFromHost(c).ok());
    const absl::Status status =
        AddTf32Products(d_p->data(), d_p->data() + half, s.ld_p, s.rows, s.cols, s.beta,
                        d_c->data() + s.c_offset, s.ldc, nullptr);
    ASSERT_TRUE(status.ok()) << status;
    std::vector<float> got(c.size());
    ASSERT_TRUE(d_c->CopyToHost(absl::MakeSpan(got)).ok());
    size_t wrong = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      const bool inside = i >= s.c_offset && (i - s.c_offset) % s.ldc < size_t(s.cols);
      float want = c[i];  // untouched outside
      if (inside) {
        const size_t r = (i - s.c_offset) / s.ldc, j = (i - s.c_offset) % s.ldc;
        want = Tf32ProductSum(c[i], s.beta, p[half + r * s.ld_p + j], p[r * s.ld_p + j]);
      }
      if (FloatBits(got[i]) != FloatBits(want) && wrong++ < 5) {
        ADD_FAILURE() << "index " << i << (inside ? "" : " (outside)") << ": got " << got[i]
                      << ", want " << want;
      }
    }
    EXPECT_EQ(wrong, 0u);
  }
}

}  // namespace
}  // namespace hecate
