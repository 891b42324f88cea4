#include "app/stop_signal.h"

#include <unistd.h>

#include <csignal>

#include "base/check.h"

namespace skinmtl {

namespace {

volatile std::sig_atomic_t g_received = 0;
bool g_active = false;
struct sigaction g_old_int, g_old_term;

// The first signal asks for a stop at the next safe point, which may be a
// while away (a held-out evaluation, a long step on the CPU), and says so; a
// second one, to a process already asked, ends it at once with the signal's
// default action (as if no handler had been installed). Only
// async-signal-safe calls here: write, signal, raise.
extern "C" void on_stop_signal(int sig) {
  if (g_received != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_received = sig;
  static const char message[] =
      "\nstop requested: stopping after the current step, with a checkpoint (signal again to end now)\n";
  const ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
  (void)ignored;
}

}  // namespace

StopSignal::StopSignal() {
  SKINMTL_CHECK(!g_active, "StopSignal: one is already installed");
  g_received = 0;
  struct sigaction sa = {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a read or write in progress carries on; the loop checks the flag
  SKINMTL_CHECK(sigaction(SIGINT, &sa, &g_old_int) == 0 && sigaction(SIGTERM, &sa, &g_old_term) == 0,
                "StopSignal: cannot install the SIGINT/SIGTERM handlers");
  g_active = true;
}

StopSignal::~StopSignal() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_active = false;
}

int StopSignal::received() const { return g_received; }

}  // namespace skinmtl
