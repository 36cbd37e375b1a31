#include "kernels/bf16_dequant/bf16_dequant.h"

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/gemv_decode/bf16_weights.h"
#include "kernels/testing/cuda_test_util.h"

namespace hecate {
namespace {

TEST(Bf16ToFp32Test, RejectsNullAndOverlap) {
  // Validation happens before any CUDA call, so this runs without a GPU too.
  float out[8];
  uint16_t in[8] = {};
  EXPECT_EQ(Bf16ToFp32(nullptr, 5, out, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Bf16ToFp32(in, 5, nullptr, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Bf16ToFp32(nullptr, 0, nullptr, nullptr).ok());
  EXPECT_EQ(Bf16ToFp32(reinterpret_cast<const uint16_t*>(out) + 3, 4, out, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

// Every bf16 pattern once (NaNs, infinities, subnormals included), then
// random patterns at awkward lengths and offsets (the vector path, its tail
// and the unaligned scalar path): bit for bit Bf16BitsToFloat, nothing
// written past n.
TEST(Bf16ToFp32Test, WidensEveryPatternExactly) {
  HECATE_SKIP_WITHOUT_CUDA();
  std::mt19937_64 rng = testing::FreshRng("Bf16ToFp32Test");
  struct Shape {
    size_t n, in_offset, out_offset;
  };
  std::vector<Shape> shapes = {{65536, 0, 0}, {1, 0, 0},     {7, 0, 0},        {8, 0, 0},
                               {9, 0, 0},     {100003, 0, 0}, {100003, 1, 0},   {4099, 0, 1},
                               {4099, 8, 4},  {(1 << 20) + 5, 0, 0}};
  for (int i = 0; i < 4; ++i) {
    shapes.push_back({1 + rng() % 300000, rng() % 16, rng() % 8});
  }
  constexpr size_t kPad = 64;
  for (const Shape& s : shapes) {
    SCOPED_TRACE(::testing::Message() << "n " << s.n << " offsets " << s.in_offset << "/"
                                    << s.out_offset);
    std::vector<uint16_t> in(s.in_offset + s.n);
    for (size_t i = 0; i < s.n; ++i) {
      in[s.in_offset + i] = s.n == 65536 ? static_cast<uint16_t>(i) : static_cast<uint16_t>(rng());
    }
    auto d_in = DeviceBuffer<uint16_t>::Create(in.size());
    auto d_out = DeviceBuffer<float>::Create(s.out_offset + s.n + kPad);
    ASSERT_TRUE(d_in.ok() && d_out.ok());
    ASSERT_TRUE(d_in->CopyFromHost(in).ok());
    ASSERT_TRUE(d_out->Fill(0x7f).ok());
    ASSERT_TRUE(Bf16ToFp32(d_in->data() + s.in_offset, s.n, d_out->data() + s.out_offset, nullptr)
                    .ok());
    std::vector<float> got(d_out->size());
    ASSERT_TRUE(d_out->CopyToHost(absl::MakeSpan(got)).ok());
    uint32_t sentinel;
    std::memset(&sentinel, 0x7f, sizeof(sentinel));
    size_t wrong = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &got[i], sizeof(bits));
      const bool inside = i >= s.out_offset && i < s.out_offset + s.n;
      uint32_t want = sentinel;
      if (inside) {
        const float value = Bf16BitsToFloat(in[s.in_offset + i - s.out_offset]);
        std::memcpy(&want, &value, sizeof(want));
      }
      if (bits != want && wrong++ < 5) {
        ADD_FAILURE() << "index " << i << (inside ? "" : " (outside)") << ": got 0x" << std::hex
                      << bits << ", want 0x" << want;
      }
    }
    EXPECT_EQ(wrong, 0u);
  }
}

}  // namespace
}  // namespace hecate
