// L2Prefetch: bad spans are refused before anything is launched; on a GPU,
// prefetches of spans that end exactly at their allocation's end (a last
// piece shorter than kL2PrefetchPieceBytes) run cleanly and change no byte.
#include "kernels/gemv_decode/l2_prefetch.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/device_buffer.h"
#include "kernels/testing/cuda_test_util.h"

namespace hecate {
namespace {

TEST(L2PrefetchTest, RefusesBadSpans) {
  alignas(16) static float host[64];
  L2PrefetchParams p;
  p.count = kL2PrefetchMaxSpans + 1;
  EXPECT_EQ(L2Prefetch(p, nullptr).code(), absl::StatusCode::kInvalidArgument);
  p.count = -1;
  EXPECT_EQ(L2Prefetch(p, nullptr).code(), absl::StatusCode::kInvalidArgument);

  p.count = 1;
  p.begin[0] = nullptr;
  p.bytes[0] = 256;
  absl::Status s = L2Prefetch(p, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("span 0"), std::string::npos) << s;

  p.count = 2;
  p.begin[0] = host;
  p.begin[1] = reinterpret_cast<const char*>(host) + 4;  // not 16-byte aligned
  p.bytes[1] = 64;
  s = L2Prefetch(p, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("span 1"), std::string::npos) << s;

  p.begin[1] = host;
  for (size_t bad : {size_t{0}, size_t{24}}) {
    p.bytes[1] = bad;
    s = L2Prefetch(p, nullptr);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("multiple of 16"), std::string::npos) << s;
  }
}

TEST(L2PrefetchTest, PrefetchesWholeSpansAndChangesNothing) {
  HECATE_SKIP_WITHOUT_CUDA();
  std::mt19937_64 rng = testing::FreshRng("L2PrefetchTest");
  // Three allocations whose sizes are not multiples of the piece size.
  const size_t floats[3] = {kL2PrefetchPieceBytes / 4 * 37 + 12, 1000, 4};
  std::vector<DeviceBuffer<float>> buffers;
  std::vector<std::vector<float>> want;
  L2PrefetchParams p;
  for (int s = 0; s < 3; ++s) {
    absl::StatusOr<DeviceBuffer<float>> b = DeviceBuffer<float>::Create(floats[s]);
    ASSERT_TRUE(b.ok()) << b.status();
    want.push_back(testing::RandomNormal(rng, floats[s]));
    ASSERT_TRUE(b->CopyFromHost(want.back()).ok());
    p.begin[s] = b->data();
    p.bytes[s] = floats[s] * sizeof(float);
    buffers.push_back(std::move(*b));
  }
  p.count = 3;
  for (int round = 0; round < 3; ++round) ASSERT_TRUE(L2Prefetch(p, nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  for (int s = 0; s < 3; ++s) {
    std::vector<float> got(floats[s]);
    ASSERT_TRUE(buffers[s].CopyToHost(absl::MakeSpan(got)).ok());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], want[s][i]) << "span " << s << " float " << i;
    }
  }
}

}  // namespace
}  // namespace hecate
