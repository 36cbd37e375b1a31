// GetModelInfo against a live daemon: the served model's shape and how it is
// computed. By default the weights are fp32 and the GEMMs too (tf32 false,
// gemm "fp32"), on either backend; --weights and --gemm are checked at
// startup (a bad value, or bf16 / tf32 / 3xtf32 on the CPU backend, stops
// hecated with a message naming the flag); on a GPU, --weights=bf16 is
// reported as such with the same model fingerprint, --gemm=tf32 as gemm
// "tf32" with tf32 true, and --gemm=3xtf32 as gemm "3xtf32".
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/test_temp_dir.h"
#include "runtime/model.h"
#include "tests/test_util/e2e.h"

namespace hecate::testing {
namespace {

class ModelInfoTest : public E2eTest {
 protected:
  // The status of starting hecated with `flags` (the daemon's log in the
  // message when it exits at start).
  absl::Status TryStart(std::vector<std::string> flags) {
    static int counter = 0;
    DaemonOptions options;
    options.state_dir = absl::StrCat(TestTempRoot(), "/refused-", counter++);
    options.extra_flags = std::move(flags);
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon = DaemonProcess::Start(options);
    if (!daemon.ok()) return daemon.status();
    daemon_ = *std::move(daemon);
    return absl::OkStatus();
  }

  // --backend=auto with `flags`, a CUDA-only mode: the ModelInfo of the CUDA
  // daemon it starts, or, where there is no GPU, nullopt once the refusal was
  // checked to name `flag` and say why.
  std::optional<v1::ModelInfo> InfoOnCudaOrRefused(std::vector<std::string> flags,
                                                   const std::string& flag) {
    const absl::Status s = TryStart(std::move(flags));
    if (!s.ok()) {
      EXPECT_NE(s.message().find(flag + " needs the CUDA backend (no CUDA device here)"),
                std::string::npos)
          << s;
      return std::nullopt;
    }
    ClientOptions options;
    options.target = daemon_->grpc_target();
    absl::StatusOr<std::unique_ptr<HecateClient>> client = HecateClient::Connect(options);
    EXPECT_TRUE(client.ok()) << client.status();
    if (!client.ok()) return std::nullopt;
    absl::StatusOr<v1::ModelInfo> info = (*client)->GetModelInfo();
    EXPECT_TRUE(info.ok()) << info.status();
    if (!info.ok()) return std::nullopt;
    return *std::move(info);
  }
};

TEST_F(ModelInfoTest, DefaultsReportFp32WeightsAndGemms) {
  StartDaemon({"--model=random:tiny", "--seed=3"});
  absl::StatusOr<v1::ModelInfo> info = alice_->GetModelInfo();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->weight_format(), "fp32");
  EXPECT_FALSE(info->tf32());
  EXPECT_EQ(info->gemm(), "fp32");
  EXPECT_TRUE(info->backend() == "cpu" || info->backend() == "cuda") << info->backend();
  EXPECT_EQ(info->fingerprint(), (*LoadModel("random:tiny", 3))->fingerprint());
  EXPECT_EQ(info->d_model(), 256);
}

TEST_F(ModelInfoTest, BadWeightsValueStopsTheDaemon) {
  const absl::Status s = TryStart({"--model=random:tiny", "--weights=fp16"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--weights must be fp32 or bf16, got \"fp16\""), std::string::npos)
      << s;
}

TEST_F(ModelInfoTest, Bf16WeightsOnTheCpuBackendStopTheDaemon) {
  const absl::Status s = TryStart({"--model=random:tiny", "--backend=cpu", "--weights=bf16"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--weights=bf16 needs the CUDA backend (--backend=cpu was given)"),
            std::string::npos)
      << s;
}

// --backend=auto: CUDA where there is a GPU (then reported), refused where
// there is none (then skipped, having checked the refusal says why).
TEST_F(ModelInfoTest, Bf16WeightsAreReportedOnCuda) {
  const std::optional<v1::ModelInfo> info =
      InfoOnCudaOrRefused({"--model=random:tiny", "--seed=3", "--weights=bf16"}, "--weights=bf16");
  if (HasFailure()) return;
  if (!info.has_value()) GTEST_SKIP() << "no CUDA device: hecated refuses --weights=bf16";
  EXPECT_EQ(info->backend(), "cuda");
  EXPECT_EQ(info->weight_format(), "bf16");
  EXPECT_FALSE(info->tf32());
  // Same model, same checkpoints: only how its matrices are stored differs.
  EXPECT_EQ(info->fingerprint(), (*LoadModel("random:tiny", 3))->fingerprint());
}

TEST_F(ModelInfoTest, Tf32GemmsOnTheCpuBackendStopTheDaemon) {
  const absl::Status s = TryStart({"--model=random:tiny", "--backend=cpu", "--gemm=tf32"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--gemm=tf32 needs the CUDA backend (--backend=cpu was given)"),
            std::string::npos)
      << s;
}

TEST_F(ModelInfoTest, Tf32GemmsAreReportedOnCuda) {
  const std::optional<v1::ModelInfo> info =
      InfoOnCudaOrRefused({"--model=random:tiny", "--seed=3", "--gemm=tf32"}, "--gemm=tf32");
  if (HasFailure()) return;
  if (!info.has_value()) GTEST_SKIP() << "no CUDA device: hecated refuses --gemm=tf32";
  EXPECT_EQ(info->backend(), "cuda");
  EXPECT_EQ(info->gemm(), "tf32");
  EXPECT_TRUE(info->tf32());
}

TEST_F(ModelInfoTest, BadGemmValueStopsTheDaemon) {
  const absl::Status s = TryStart({"--model=random:tiny", "--gemm=fp16"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--gemm must be fp32, tf32 or 3xtf32, got \"fp16\""),
            std::string::npos)
      << s;
}

// 3xtf32 is fp32-accurate, so tf32 stays false; the CPU backend refuses it
// as it refuses bf16 weights.
TEST_F(ModelInfoTest, Gemm3xTf32IsReportedOnCuda) {
  const std::optional<v1::ModelInfo> info =
      InfoOnCudaOrRefused({"--model=random:tiny", "--seed=3", "--gemm=3xtf32"}, "--gemm=3xtf32");
  if (HasFailure()) return;
  if (!info.has_value()) GTEST_SKIP() << "no CUDA device: hecated refuses --gemm=3xtf32";
  EXPECT_EQ(info->backend(), "cuda");
  EXPECT_EQ(info->gemm(), "3xtf32");
  EXPECT_FALSE(info->tf32());
  EXPECT_EQ(info->weight_format(), "fp32");
}

}  // namespace
}  // namespace hecate::testing
