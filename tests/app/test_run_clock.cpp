// app/run_clock.h: a resumed run's wall time is the checkpoint's plus this
// process's own.
#include <thread>

#include <gtest/gtest.h>

#include "app/run_clock.h"

namespace skinmtl {
namespace {

TEST(RunClock, CountsThisProcessOnTopOfTheEarlierRuns) {
  RunClock fresh;
  const double t0 = fresh.seconds();
  EXPECT_GE(t0, 0.0);
  EXPECT_LT(t0, 5.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(fresh.seconds(), t0 + 0.015) << "the clock must run";

  RunClock resumed;
  resumed.resume_from(3600.0);  // the checkpoint says the run had taken an hour
  const double t = resumed.seconds();
  EXPECT_GE(t, 3600.0);
  EXPECT_LT(t, 3605.0);
}

}  // namespace
}  // namespace skinmtl
