// app/stop_signal.h: Ctrl-C (SIGINT) and SIGTERM as a request to stop at the
// next safe point, for as long as a StopSignal lives.
//
// A training loop holds one: a signal then only sets a flag, and the loop,
// between two steps, saves its checkpoint and returns. When the StopSignal
// goes away the handlers that were there before come back, so a Ctrl-C during
// whatever runs next in the same process (`reproduce` evaluates after
// training) ends it as usual instead of setting a flag nobody reads.
//
//   StopSignal stop;
//   for (...) {
//     step();
//     if (stop.received()) { save_checkpoint(); return 130; }
//   }
//
// The first signal says on stderr that the run will stop; a second signal
// while the first is still pending (the loop had no safe point yet: a long
// held-out evaluation, say) ends the process at once, with that signal's
// default action, as Ctrl-C would without a StopSignal.
//
// One at a time: a second StopSignal while one lives is an error.
#pragma once

namespace skinmtl {

class StopSignal {
 public:
  StopSignal();   // installs the handlers; nothing received yet
  ~StopSignal();  // puts the previous handlers back
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // 0, or the signal (SIGINT, SIGTERM) that asked to stop since construction.
  int received() const;
};

}  // namespace skinmtl
