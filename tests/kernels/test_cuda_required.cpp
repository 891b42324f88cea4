// SKINMTL_REQUIRE_CUDA=1: on a machine meant to have a GPU, CUDA that cannot
// start must fail loudly, never pass as "0 failed, N skipped" or train on the
// CPU in silence. These tests show it where there is no GPU (CI); where there
// is one, there is nothing to show and they skip.
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "framework/tensor.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

int sh(const std::string& cmd, std::string* out) {
  const std::string log = "/tmp/skinmtl_require_cuda_" + std::to_string(::getpid()) + ".log";
  const int rc = std::system((cmd + " > " + log + " 2>&1").c_str());
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  std::remove(log.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string this_test_binary() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, (size_t)n) : std::string();
}

TEST(CudaRequired, WithoutAGpuTheReasonIsSaid) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is visible: nothing to show";
  EXPECT_FALSE(cuda_unavailable_reason().empty());
  EXPECT_EQ(cuda_required(), std::getenv("SKINMTL_REQUIRE_CUDA") && std::string(std::getenv("SKINMTL_REQUIRE_CUDA")) != "0" &&
                                 *std::getenv("SKINMTL_REQUIRE_CUDA"));
}

TEST(CudaRequired, TurnsEveryCudaTestsSkipIntoAFailure) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is visible: nothing to show";
  const std::string bin = this_test_binary();
  ASSERT_FALSE(bin.empty());
  std::string out;
  // Without the variable: skipped, exit 0.
  EXPECT_EQ(sh("env -u SKINMTL_REQUIRE_CUDA " + bin + " --gtest_filter=ReluCuda.ParityOddShapes", &out), 0) << out;
  EXPECT_NE(out.find("SKIPPED"), std::string::npos) << out;
  // With it: a failure that says why.
  EXPECT_NE(sh("SKINMTL_REQUIRE_CUDA=1 " + bin + " --gtest_filter=ReluCuda.ParityOddShapes", &out), 0) << out;
  EXPECT_NE(out.find("SKINMTL_REQUIRE_CUDA is set but"), std::string::npos) << out;
  EXPECT_NE(out.find("FAILED"), std::string::npos) << out;
}

TEST(CudaRequired, MakesDeviceAutoAnErrorInsteadOfACpuFallBack) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is visible: nothing to show";
  std::string out;
  const std::string exe = test::skinmtl_bin();
  EXPECT_EQ(sh("env -u SKINMTL_REQUIRE_CUDA " + exe + " reproduce yang --dry-run", &out), 0) << out;
  EXPECT_NE(out.find("on cpu"), std::string::npos) << out;
  EXPECT_NE(sh("SKINMTL_REQUIRE_CUDA=1 " + exe + " reproduce yang --dry-run", &out), 0) << out;
  EXPECT_NE(out.find("--device auto: SKINMTL_REQUIRE_CUDA is set but"), std::string::npos) << out;
  // The explicit CPU is still allowed.
  EXPECT_EQ(sh("SKINMTL_REQUIRE_CUDA=1 " + exe + " reproduce yang --dry-run --device cpu", &out), 0) << out;
}

}  // namespace
}  // namespace skinmtl
