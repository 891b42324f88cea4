// app/stop_signal.h: while a StopSignal lives, SIGINT and SIGTERM set a flag
// (the training loop checkpoints and stops), and a second one ends the
// process; afterwards the handlers that were there before are back, so a
// Ctrl-C during the next thing the process does (reproduce's evaluation step)
// is not swallowed.
#include <csignal>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "app/stop_signal.h"
#include "base/check.h"

namespace skinmtl {
namespace {

volatile std::sig_atomic_t g_previous_handler_calls = 0;
extern "C" void previous_handler(int) { g_previous_handler_calls = g_previous_handler_calls + 1; }

// Installs previous_handler for SIGINT and SIGTERM for the test's duration.
struct PreviousHandlers {
  struct sigaction old_int, old_term;
  PreviousHandlers() {
    struct sigaction sa = {};
    sa.sa_handler = previous_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    g_previous_handler_calls = 0;
  }
  ~PreviousHandlers() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

TEST(StopSignal, ASignalSetsTheFlagInsteadOfEndingTheProcess) {
  for (const int sig : {SIGTERM, SIGINT}) {
    PreviousHandlers prev;
    StopSignal stop;
    EXPECT_EQ(stop.received(), 0);
    testing::internal::CaptureStderr();
    std::raise(sig);
    const std::string said = testing::internal::GetCapturedStderr();
    EXPECT_EQ(stop.received(), sig);
    EXPECT_NE(said.find("stopping after the current step"), std::string::npos) << said;
    EXPECT_EQ(g_previous_handler_calls, 0) << "the earlier handler must not run while a StopSignal lives";
  }
}

// A second signal while the first is pending: the user means now. The
// process ends by that signal (a death test: it runs in a child process).
TEST(StopSignal, ASecondSignalEndsTheProcessAtOnce) {
  for (const int sig : {SIGINT, SIGTERM}) {
    EXPECT_EXIT(
        {
          StopSignal stop;
          std::raise(sig);
          if (stop.received() != sig) std::_Exit(3);  // the first must only set the flag
          std::raise(sig);
          std::_Exit(0);  // not reached
        },
        testing::KilledBySignal(sig), "signal again to end now");
  }
}

TEST(StopSignal, TheEarlierHandlersComeBackAfterwards) {
  PreviousHandlers prev;
  {
    StopSignal stop;
    std::raise(SIGINT);
    EXPECT_EQ(stop.received(), SIGINT);
  }
  std::raise(SIGINT);  // what reproduce's eval step would get from a Ctrl-C
  std::raise(SIGTERM);
  EXPECT_EQ(g_previous_handler_calls, 2);
  // A new StopSignal starts with nothing received.
  StopSignal again;
  EXPECT_EQ(again.received(), 0);
}

TEST(StopSignal, OnlyOneAtATime) {
  PreviousHandlers prev;
  StopSignal stop;
  EXPECT_THROW(StopSignal second, Error);
  std::raise(SIGINT);
  EXPECT_EQ(stop.received(), SIGINT) << "the failed second one must not disturb the first";
}

}  // namespace
}  // namespace skinmtl
