// The progress bar: see io/progress.h.
#include "io/progress.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "base/check.h"

namespace skinmtl {

namespace {

constexpr double kMinRedrawSeconds = 0.1;  // at most ~10 redraws (and rate samples) per second

std::string printf_string(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

// ---- pure formatting ------------------------------------------------------------------

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const int64_t s = (int64_t)seconds;  // truncates: 4.9 s shows as 00:04
  const int64_t h = s / 3600, m = (s / 60) % 60, sec = s % 60;
  char buf[48];
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)h, (long long)m,
                  (long long)sec);
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", (long long)m, (long long)sec);
  }
  return buf;
}

std::string format_rate(double r) {
  if (!std::isfinite(r) || r <= 0) return "? it/s";
  if (r < 1) return printf_string("%.2f s/it", 1.0 / r);
  if (r < 100) return printf_string("%.1f it/s", r);
  return printf_string("%.0f it/s", r);
}

std::string format_bar(int64_t done, int64_t total, int width) {
  if (total <= 0 || width <= 0) return "[]";
  done = std::clamp<int64_t>(done, 0, total);
  const int64_t filled = done * width / total;  // whole cells done
  std::string bar = "[";
  if (filled >= width) {
    bar.append((size_t)width, '=');
  } else {
    bar.append((size_t)filled, '=');
    bar += '>';
    bar.append((size_t)(width - filled - 1), ' ');
  }
  return bar + "]";
}

std::string format_progress_line(const std::string& label, int64_t done, int64_t total,
                                 double rate, double elapsed_s, bool finished,
                                 const std::string& extra, int bar_width) {
  std::string line;
  if (!label.empty()) line = label + " ";
  line += format_bar(done, total, bar_width) + " " + std::to_string(done) + "/" +
          std::to_string(total) + "  " + format_rate(rate) + "  ";
  if (finished) {
    line += "took " + format_duration(elapsed_s);
  } else {
    line += "ETA " + format_duration(rate > 0 ? (double)(total - done) / rate : -1.0);
  }
  if (!extra.empty()) line += "  " + extra;
  return line;
}

// ---- RateMeter ------------------------------------------------------------------------

void RateMeter::add(double t, int64_t done) {
  if (have_sample_) {
    const double dt = t - last_t_;
    if (dt <= 0) return;  // no time has passed: nothing to measure yet
    const double instant = (double)(done - last_done_) / dt;
    // The first measurement is taken as it is; later ones are blended in.
    rate_ = rate_ > 0 ? smoothing_ * instant + (1 - smoothing_) * rate_ : instant;
  }
  have_sample_ = true;
  last_t_ = t;
  last_done_ = done;
}

// ---- Progress -------------------------------------------------------------------------

namespace {
std::atomic<bool> g_silenced{false};
}  // namespace

void silence_progress_bars() { g_silenced = true; }

Progress::Progress(int64_t total, std::string label, std::FILE* out, int tty)
    : total_(total), label_(std::move(label)), out_(g_silenced && out == stderr ? nullptr : out), start_(Clock::now()) {
  SKINMTL_CHECK(total > 0, "Progress '" << label_ << "': total must be > 0, got " << total);
  tty_ = out && (tty < 0 ? isatty(fileno(out)) != 0 : tty != 0);
  meter_.add(0.0, 0);
}

Progress::~Progress() {
  if (!finished_ && tty_ && drawn_ && out_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

double Progress::seconds_since_start() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void Progress::update(int64_t done, const std::string& extra) {
  if (finished_) return;
  done_ = std::clamp<int64_t>(done, 0, total_);
  if (first_done_ < 0) first_done_ = done_;
  extra_ = extra;
  const double t = seconds_since_start();
  // Samples at least 0.1 s apart, the first 0.1 s after the start: rates over
  // shorter spans are mostly noise.
  const bool sample_due = t - last_sample_t_ >= kMinRedrawSeconds;
  if (sample_due) {
    meter_.add(t, done_);
    last_sample_t_ = t;
  }
  if (tty_) {
    if (sample_due || !drawn_) draw(false);
  } else {
    // One line per completed 10%; the last one (100%) is finish()'s.
    const int decile = (int)std::min<int64_t>(done_ * 10 / total_, 9);
    if (decile > last_decile_) {
      last_decile_ = decile;
      draw(false);
    }
  }
}

void Progress::finish() { finish(extra_); }

void Progress::finish(const std::string& extra) {
  if (finished_) return;
  extra_ = extra;
  draw(true);
  finished_ = true;
}

void Progress::draw(bool finished) {
  if (!out_) return;  // a silent bar (the other ranks of a data-parallel job)
  const double t = seconds_since_start();
  // Until the meter has a measurement, the plain average; at the end, the
  // average over the whole run, which is the more useful summary.
  double rate = meter_.rate();
  // The average since the start, counting only the work done in this run: a
  // resumed run that starts at 100 of 500 has done 0 so far, not 100.
  const int64_t done_here = done_ - std::max<int64_t>(first_done_, 0);
  if ((rate <= 0 || finished) && t > 0) rate = (double)done_here / t;
  std::string line = format_progress_line(label_, done_, total_, rate, t, finished, extra_);
  if (tty_) {
    // '\r' returns to the line's start; spaces cover a longer previous line.
    const size_t len = line.size();
    if (len < last_len_) line.append(last_len_ - len, ' ');
    last_len_ = len;
    std::fprintf(out_, "\r%s%s", line.c_str(), finished ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
  drawn_ = true;
}

}  // namespace skinmtl
