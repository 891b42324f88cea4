// kernels/conv2d_choice.h: the measured convolution algorithm taken is the
// least workspace within the slack of the fastest, ties to the faster.
#include "kernels/conv2d_choice.h"

#include "tests/test_util.h"

namespace skinmtl {
namespace {

constexpr size_t MB = size_t(1) << 20;

TEST(Conv2dChoice, TheLeastWorkspaceWithinThreePercentOfTheFastest) {
  // The fastest wants 512 MB; one 2% slower wants none: that one.
  EXPECT_EQ(pick_measured({{1.00, 512 * MB}, {1.02, 0}, {1.50, 0}}), 1u);
  // 5% slower is outside the slack: the fastest, whatever its workspace.
  EXPECT_EQ(pick_measured({{1.00, 512 * MB}, {1.05, 0}}), 0u);
  // Within the slack the smallest workspace wins, not the first smaller one.
  EXPECT_EQ(pick_measured({{2.00, 300 * MB}, {2.01, 100 * MB}, {2.05, 4 * MB}, {2.30, 0}}), 2u);
  // The fastest already needs the least: it stays.
  EXPECT_EQ(pick_measured({{1.00, 0}, {1.01, 64 * MB}}), 0u);
  // Equal workspace: the faster (earlier) entry.
  EXPECT_EQ(pick_measured({{1.00, 8 * MB}, {1.01, 2 * MB}, {1.02, 2 * MB}}), 1u);
  // A single entry.
  EXPECT_EQ(pick_measured({{0.5, 7 * MB}}), 0u);
}

TEST(Conv2dChoice, ZeroSlackIsTheFastestAndBadInputIsAnError) {
  EXPECT_EQ(pick_measured({{1.00, 512 * MB}, {1.00, 0}}, 0.0), 1u);  // a tie in time still prefers less memory
  EXPECT_EQ(pick_measured({{1.00, 512 * MB}, {1.001, 0}}, 0.0), 0u);
  EXPECT_THROW(pick_measured({}), Error);
  EXPECT_THROW(pick_measured({{1.0, 0}}, -0.1), Error);
}

}  // namespace
}  // namespace skinmtl
