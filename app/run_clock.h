// app/run_clock.h: the wall time of a training run, across interruptions.
//
// A run stopped (Ctrl-C, a crash, a reboot) and resumed is still one run: its
// log.csv and its checkpoints carry wall_s, the seconds it has taken in all.
// RunClock is that sum: the time the checkpoint records for the processes
// before this one, plus this process's own since the clock started.
//
//   RunClock clock;                              // at the start of training
//   if (resuming) clock.resume_from(std::stod(meta.at("wall_s")));
//   row["wall_s"] = clock.seconds();
#pragma once

#include <chrono>

namespace skinmtl {

class RunClock {
 public:
  RunClock() : started_(std::chrono::steady_clock::now()) {}
  // The seconds the run had taken before this process (a checkpoint's wall_s).
  void resume_from(double seconds_before) { before_ = seconds_before; }
  // Seconds of the whole run so far.
  double seconds() const {
    return before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  }

 private:
  double before_ = 0;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace skinmtl
