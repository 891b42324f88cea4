// The test binary's main: poisons every new tensor with NaN (so a kernel that
// leaves an output element unwritten fails its test), says whether CUDA tests
// will run, and closes with one summary line:
//   tests: N passed, N failed, N skipped
#include <gtest/gtest.h>

#include <cstdio>

#include "framework/tensor.h"

namespace {

class SummaryLine : public ::testing::EmptyTestEventListener {
  void OnTestProgramEnd(const ::testing::UnitTest& u) override {
    std::printf("\ntests: %d passed, %d failed, %d skipped\n", u.successful_test_count(),
                u.failed_test_count(), u.skipped_test_count());
    std::fflush(stdout);
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  skinmtl::set_poison_new_tensors(true);
  std::printf("skinmtl tests: CUDA build %s, GPU %s\n", SKINMTL_CUDA ? "yes" : "no",
              skinmtl::cuda_available() ? "present: CUDA tests run"
                                        : "absent: CUDA tests are skipped by name");
  ::testing::UnitTest::GetInstance()->listeners().Append(new SummaryLine);
  return RUN_ALL_TESTS();
}
