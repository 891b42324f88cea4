// app/stop_signal.h: while a StopSignal lives, SIGINT and SIGTERM set a flag
// (the training loop checkpoints and stops); afterwards the handlers that
// were there before are back, so a Ctrl-C during the next thing the process
// does (reproduce's evaluation step) is not swallowed.
#include <csignal>

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
  PreviousHandlers prev;
  StopSignal stop;
  EXPECT_EQ(stop.received(), 0);
  std::raise(SIGTERM);
  EXPECT_EQ(stop.received(), SIGTERM);
  std::raise(SIGINT);
  EXPECT_EQ(stop.received(), SIGINT);
  EXPECT_EQ(g_previous_handler_calls, 0) << "the earlier handler must not run while a StopSignal lives";
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
