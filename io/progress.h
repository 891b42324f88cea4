// io/progress.h: a progress bar for long loops (epochs, evaluation passes).
//
//   Progress bar(n_iters, "train");
//   for (int64_t it = 0; it < n_iters; ++it) {
//     ...
//     bar.update(it + 1, "loss " + std::to_string(loss));
//   }
//   bar.finish();
//
// prints, on stderr, redrawn in place with '\r':
//
//   train [=============>                ] 45/100  12.3 it/s  ETA 00:04  loss 0.6931
//
// and at finish() the final state with the total time and a newline:
//
//   train [==============================] 100/100  12.1 it/s  took 00:08  loss 0.5210
//
// Redraws are throttled to at most one per 0.1 s, so calling update() every
// iteration costs nothing noticeable. When the stream is not a terminal (a log
// file, CI), '\r' redraws would pile up, so instead one plain line is printed
// each time another 10% of the total is done, plus the final one.
//
// The rate (iterations per second) is an exponential moving average of the
// rate measured between samples (one sample per 0.1 s at most), so it follows
// slowdowns without jittering; the ETA is (total - done) / rate.
//
// The formatting is done by pure functions (below), tested on their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace skinmtl {

// 4 -> "00:04", 125 -> "02:05", 3725 -> "1:02:05" (hours appear when needed);
// negative, NaN or infinite -> "--:--". Fractions of a second are dropped.
std::string format_duration(double seconds);

// 12.34 -> "12.3 it/s", 1234.5 -> "1234 it/s", 0.4 -> "2.50 s/it" (slow loops
// read better in seconds per iteration); 0, negative or NaN -> "? it/s".
std::string format_rate(double iters_per_second);

// "[=====>    ]" with `width` cells between the brackets: the done fraction
// filled with '=', the head '>' (absent when full).
std::string format_bar(int64_t done, int64_t total, int width);

// The whole line (without '\r' or newline). rate <= 0: not known yet.
// finished: show "took <elapsed>" instead of the ETA.
std::string format_progress_line(const std::string& label, int64_t done, int64_t total,
                                 double rate, double elapsed_s, bool finished,
                                 const std::string& extra, int bar_width = 30);

// Exponential moving average of a rate from (time, count) samples.
// add(t, done) with increasing t; rate() is 0 until two samples exist.
class RateMeter {
 public:
  explicit RateMeter(double smoothing = 0.3) : smoothing_(smoothing) {}
  void add(double t_seconds, int64_t done);
  double rate() const { return rate_; }

 private:
  double smoothing_;  // weight of the newest measurement
  double rate_ = 0;
  double last_t_ = 0;
  int64_t last_done_ = 0;
  bool have_sample_ = false;
};

// For a process whose bars nobody should see, the ranks other than 0 of a
// data-parallel job (app/data_parallel.h): from then on, every bar that would
// draw on stderr draws nothing. Their errors still reach stderr.
void silence_progress_bars();

class Progress {
 public:
  // total > 0 iterations. `out` defaults to stderr (nothing after
  // silence_progress_bars()); nullptr draws nothing
  // (rate() still measures). `tty` -1 asks the stream (isatty), 0 or 1 force
  // plain-line or redraw mode.
  Progress(int64_t total, std::string label, std::FILE* out = stderr, int tty = -1);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` iterations are complete (clamped to [0, total]); `extra` is shown
  // after the ETA (e.g. "loss 0.6931").
  void update(int64_t done, const std::string& extra = "");
  // Draws the final state (with the total time instead of the ETA) and ends
  // the line; the first form keeps the last extra text given to update().
  // Later calls do nothing. Without finish(), the destructor only ends a
  // half-drawn line, so an interrupted loop does not look finished.
  void finish();
  void finish(const std::string& extra);

  bool is_tty() const { return tty_; }
  double rate() const { return meter_.rate(); }

 private:
  using Clock = std::chrono::steady_clock;
  double seconds_since_start() const;
  void draw(bool finished);

  int64_t total_;
  std::string label_;
  std::FILE* out_;
  bool tty_;
  Clock::time_point start_;
  RateMeter meter_;
  double last_sample_t_ = 0;    // time of the last rate sample (0: the start)
  int64_t done_ = 0;
  int64_t first_done_ = -1;     // the count at the first update (a resumed run starts above 0)
  int last_decile_ = 0;         // plain mode: the last 10% step printed
  size_t last_len_ = 0;         // redraw mode: the length of the line on screen
  std::string extra_;
  bool drawn_ = false, finished_ = false;
};

}  // namespace skinmtl
