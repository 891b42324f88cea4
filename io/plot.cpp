// Line charts as PNG: see io/plot.h.
//
// The picture is built on an RGB canvas in three kinds of strokes:
//  - rectangles (frame, grid, ticks, legend box), pixel-exact;
//  - text: stb_easy_font turns a string into axis-aligned quads on a 1-pixel
//    grid (capitals 7 units high, descenders to 9), which we fill scaled by
//    an integer, so letters stay sharp;
//  - series: each segment is stroked by coverage. A pixel's coverage is
//    clamp(w/2 + 0.5 - d, 0, 1), with d the distance from the pixel's centre
//    to the segment and w the line width: 1 inside the line, fading to 0 over
//    one pixel at its edge, which is the anti-aliasing. A series' coverage
//    is the maximum over its segments (so joints are not drawn twice), and
//    the series is blended onto the canvas once, with that coverage as alpha.
#include "io/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "io/csv_log.h"
#include "kernels/common.h"
#include "stb_image_write.h"

// stb_easy_font is a set of static functions in a header; we do not use all
// of them, and its C-style casts are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "stb_easy_font.h"
#pragma GCC diagnostic pop

namespace skinmtl {

Rgb palette_color(size_t i) {
  // Tableau 10 (matplotlib's default colour cycle).
  static const Rgb kPalette[10] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},
                                   {214, 39, 40},  {148, 103, 189}, {140, 86, 75},
                                   {227, 119, 194}, {127, 127, 127}, {188, 189, 34},
                                   {23, 190, 207}};
  return kPalette[i % 10];
}

// ---- ticks ------------------------------------------------------------------------------------

double nice_step(double lo, double hi, int target) {
  const double raw = (hi - lo) / std::max(1, target - 1);
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / p;  // in [1, 10)
  // Round the mantissa to 1, 2, 5 or 10 (Heckbert, "Nice numbers for graph labels").
  const double m = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return m * p;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  SKINMTL_CHECK(lo < hi && std::isfinite(lo) && std::isfinite(hi),
                "nice_ticks: need a finite range lo < hi, got [" << lo << ", " << hi << "]");
  const double step = nice_step(lo, hi, target);
  const double first = std::ceil(lo / step - 1e-9);
  std::vector<double> ticks;
  // Multiply rather than add, so rounding errors do not accumulate.
  for (int i = 0; i < 1000; ++i) {
    double v = (first + i) * step;
    if (v > hi + step * 1e-9) break;
    if (std::fabs(v) < step * 1e-9) v = 0;
    ticks.push_back(v);
  }
  return ticks;
}

std::string format_tick(double value, double step) {
  char buf[48];
  // step = m x 10^k with m in {1, 2, 5}: -k decimals show every tick exactly.
  const int decimals = std::max(0, (int)-std::floor(std::log10(step) + 1e-9));
  if (decimals > 6 || std::fabs(value) >= 1e7) {
    std::snprintf(buf, sizeof buf, "%.4g", value);
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  }
  std::string s = buf;
  // A value rounding to zero from below prints "-0.00": drop the sign.
  if (s[0] == '-' && s.find_first_not_of("0.", 1) == std::string::npos) s.erase(0, 1);
  return s;
}

namespace {

// A label for the power of ten 10^k on a log axis.
std::string format_pow10(int k) {
  char buf[32];
  if (k >= 0 && k <= 5) {
    std::snprintf(buf, sizeof buf, "%.0f", std::pow(10.0, k));
  } else if (k < 0 && k >= -4) {
    std::snprintf(buf, sizeof buf, "%.*f", -k, std::pow(10.0, k));
  } else {
    std::snprintf(buf, sizeof buf, "1e%d", k);
  }
  return buf;
}

// ---- canvas -------------------------------------------------------------------------------------

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), rgb_((size_t)w * h * 3, 255) {}
  int width() const { return w_; }
  int height() const { return h_; }
  const uint8_t* data() const { return rgb_.data(); }

  // Mixes colour c into pixel (x, y) with opacity a in [0, 1]; outside: ignored.
  void blend(int x, int y, Rgb c, double a) {
    if (x < 0 || y < 0 || x >= w_ || y >= h_ || a <= 0) return;
    a = std::min(a, 1.0);
    uint8_t* p = &rgb_[((size_t)y * w_ + x) * 3];
    p[0] = (uint8_t)std::lround(p[0] + a * (c.r - p[0]));
    p[1] = (uint8_t)std::lround(p[1] + a * (c.g - p[1]));
    p[2] = (uint8_t)std::lround(p[2] + a * (c.b - p[2]));
  }
  // The pixels [x0, x1) x [y0, y1).
  void fill_rect(int x0, int y0, int x1, int y1, Rgb c, double a = 1.0) {
    for (int y = std::max(y0, 0); y < std::min(y1, h_); ++y)
      for (int x = std::max(x0, 0); x < std::min(x1, w_); ++x) blend(x, y, c, a);
  }

 private:
  int w_, h_;
  std::vector<uint8_t> rgb_;  // (h, w, 3) row-major
};

// ---- text -------------------------------------------------------------------------------------

constexpr int kCapHeight = 7;  // stb_easy_font units: capitals and digits span y in [0, 7)

// stb_easy_font indexes a table by (char - 32): keep to printable ASCII.
std::vector<char> font_string(const std::string& s) {
  std::vector<char> out;
  for (char c : s) out.push_back(c >= 32 && c <= 126 ? c : '?');
  out.push_back('\0');
  return out;
}

// The quads of `s` in font units: each as x0, y0, x1, y1.
struct Quad {
  float x0, y0, x1, y1;
};
std::vector<Quad> text_quads(const std::string& s) {
  std::vector<char> t = font_string(s);
  // About 270 bytes per character (stb_easy_font's documentation); be generous.
  std::vector<char> vbuf(t.size() * 1024 + 1024);
  const int n = stb_easy_font_print(0, 0, t.data(), nullptr, vbuf.data(), (int)vbuf.size());
  std::vector<Quad> quads;
  for (int q = 0; q < n; ++q) {
    // Each vertex: float x, y, z, then 4 colour bytes (16 bytes); 4 per quad.
    Quad r{1e30f, 1e30f, -1e30f, -1e30f};
    for (int v = 0; v < 4; ++v) {
      float xy[2];
      std::memcpy(xy, vbuf.data() + (q * 4 + v) * 16, sizeof xy);
      r.x0 = std::min(r.x0, xy[0]);
      r.x1 = std::max(r.x1, xy[0]);
      r.y0 = std::min(r.y0, xy[1]);
      r.y1 = std::max(r.y1, xy[1]);
    }
    quads.push_back(r);
  }
  return quads;
}

// Horizontal text whose capitals span rows [y, y + 7 * scale), starting at column x.
void draw_text(Canvas& cv, int x, int y, const std::string& s, int scale, Rgb c) {
  for (const Quad& q : text_quads(s))
    cv.fill_rect(x + (int)std::lround(q.x0 * scale), y + (int)std::lround(q.y0 * scale),
                 x + (int)std::lround(q.x1 * scale), y + (int)std::lround(q.y1 * scale), c);
}

// Text turned 90 degrees counter-clockwise, reading upwards: the capitals
// span columns [x, x + 7 * scale) and the text starts at row y, going up.
// A font point (u, v) lands on (x + v * scale, y - u * scale).
void draw_text_up(Canvas& cv, int x, int y, const std::string& s, int scale, Rgb c) {
  for (const Quad& q : text_quads(s))
    cv.fill_rect(x + (int)std::lround(q.y0 * scale), y - (int)std::lround(q.x1 * scale),
                 x + (int)std::lround(q.y1 * scale), y - (int)std::lround(q.x0 * scale), c);
}

// ---- anti-aliased lines -------------------------------------------------------------------

struct Rect {
  int x0, y0, x1, y1;  // pixels [x0, x1) x [y0, y1)
};

double distance_to_segment(double px, double py, double ax, double ay, double bx, double by) {
  const double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  // The closest point is a + t (b - a), t clamped to the segment; a
  // zero-length segment is a point (an isolated data point becomes a dot).
  const double t = len2 > 0 ? std::clamp(((px - ax) * dx + (py - ay) * dy) / len2, 0.0, 1.0) : 0.0;
  const double ex = ax + t * dx - px, ey = ay + t * dy - py;
  return std::sqrt(ex * ex + ey * ey);
}

// Raises cov (one float per canvas pixel) to the coverage of the segment
// a-b of width `line_width`, within `clip`. Coordinates are continuous:
// pixel (i, j) covers [i, i + 1) x [j, j + 1), its centre is (i + 0.5, j + 0.5).
void stroke_segment(std::vector<float>& cov, int canvas_w, const Rect& clip, double ax, double ay,
                    double bx, double by, double line_width) {
  const double hw = line_width / 2;
  const int x0 = std::max(clip.x0, (int)std::floor(std::min(ax, bx) - hw - 1));
  const int x1 = std::min(clip.x1, (int)std::ceil(std::max(ax, bx) + hw + 1));
  const int y0 = std::max(clip.y0, (int)std::floor(std::min(ay, by) - hw - 1));
  const int y1 = std::min(clip.y1, (int)std::ceil(std::max(ay, by) + hw + 1));
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      const double d = distance_to_segment(x + 0.5, y + 0.5, ax, ay, bx, by);
      const float c = (float)std::clamp(hw + 0.5 - d, 0.0, 1.0);
      float& dst = cov[(size_t)y * canvas_w + x];
      dst = std::max(dst, c);
    }
}

// ---- axes -------------------------------------------------------------------------------------

struct Axis {
  double lo = 0, hi = 1;          // the data range shown (log10 units on a log axis)
  std::vector<double> ticks;      // positions, in the same units
  std::vector<std::string> labels;
};

// Finite bounds of the values, or false when there are none.
bool finite_range(const std::vector<double>& v, double* lo, double* hi) {
  *lo = std::numeric_limits<double>::infinity();
  *hi = -*lo;
  for (double x : v)
    if (std::isfinite(x)) {
      *lo = std::min(*lo, x);
      *hi = std::max(*hi, x);
    }
  return *lo <= *hi;
}

// Widens a degenerate range [v, v] so it has a size.
void widen_if_flat(double* lo, double* hi, double min_half) {
  if (*hi > *lo) return;
  const double half = std::max(min_half, std::fabs(*lo) * 0.05);
  *lo -= half;
  *hi += half;
}

// Linear ticks with labels, for about `target` ticks.
void linear_ticks(Axis& a, int target) {
  const double step = nice_step(a.lo, a.hi, target);
  a.ticks = nice_ticks(a.lo, a.hi, target);
  a.labels.clear();
  for (double t : a.ticks) a.labels.push_back(format_tick(t, step));
}

// Log10 axis: ticks at powers of ten when the range holds more than two of
// them (thinned to about `target`); at 1, 2 and 5 times powers of ten when it
// holds two; else nice linear values placed on the log scale.
void log_ticks(Axis& a, int target) {
  const int k0 = (int)std::ceil(a.lo - 1e-9), k1 = (int)std::floor(a.hi + 1e-9);
  a.ticks.clear();
  a.labels.clear();
  if (k1 - k0 == 1) {
    for (int k = k0 - 1; k <= k1; ++k)
      for (double m : {1.0, 2.0, 5.0}) {
        const double t = k + std::log10(m);
        if (t < a.lo - 1e-9 || t > a.hi + 1e-9) continue;
        a.ticks.push_back(t);
        a.labels.push_back(format_tick(m * std::pow(10.0, k), std::pow(10.0, k)));
      }
    return;
  }
  if (k1 - k0 >= 2) {
    const int stride = std::max(1, (k1 - k0 + 1 + target - 1) / target);
    for (int k = k0; k <= k1; k += stride) {
      a.ticks.push_back(k);
      a.labels.push_back(format_pow10(k));
    }
    return;
  }
  const double lo = std::pow(10.0, a.lo), hi = std::pow(10.0, a.hi);
  const double step = nice_step(lo, hi, target);
  for (double v : nice_ticks(lo, hi, target)) {
    if (v <= 0) continue;
    a.ticks.push_back(std::log10(v));
    a.labels.push_back(format_tick(v, step));
  }
}

}  // namespace

// ---- text on images (io/plot.h) ------------------------------------------------------------

int text_width(const std::string& s, int scale) {
  if (s.empty()) return 0;
  std::vector<char> t = font_string(s);
  // stb_easy_font_width counts the spacing after the last character too (1
  // unit for most characters): drop it, so centring is exact.
  return (stb_easy_font_width(t.data()) - 1) * scale;
}

void draw_text(Image& image, int x, int y, const std::string& s, int scale, Rgb c) {
  SKINMTL_CHECK(image.channels == 3, "draw_text: needs an RGB image, got " << image.str());
  const uint8_t rgb[3] = {c.r, c.g, c.b};
  for (const Quad& q : text_quads(s)) {
    const int x0 = std::max(0, x + (int)std::lround(q.x0 * scale));
    const int y0 = std::max(0, y + (int)std::lround(q.y0 * scale));
    const int x1 = std::min(image.width, x + (int)std::lround(q.x1 * scale));
    const int y1 = std::min(image.height, y + (int)std::lround(q.y1 * scale));
    for (int yy = y0; yy < y1; ++yy)
      for (int xx = x0; xx < x1; ++xx)
        for (int ch = 0; ch < 3; ++ch) image.at(yy, xx, ch) = rgb[ch];
  }
}

// ---- the chart --------------------------------------------------------------------------------

void plot_lines(const std::string& path, const std::string& title,
                const std::vector<Series>& series, const std::string& x_label,
                const std::string& y_label, bool log_y, int width, int height) {
  SKINMTL_CHECK(width >= 240 && height >= 160,
                "plot " << path << ": image " << width << "x" << height
                        << " is too small (at least 240x160)");
  for (const Series& s : series)
    SKINMTL_CHECK(s.xs.size() == s.ys.size(), "plot " << path << ": series '" << s.name << "' has "
                                                      << s.xs.size() << " x values but "
                                                      << s.ys.size() << " y values");

  // The points to draw, in plot units (log10(y) on a log axis); NaN marks a gap.
  const double kNaN = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::vector<double>> px(series.size()), py(series.size());
  std::vector<double> all_x, all_y;
  for (size_t i = 0; i < series.size(); ++i) {
    for (size_t j = 0; j < series[i].xs.size(); ++j) {
      double x = series[i].xs[j], y = series[i].ys[j];
      if (log_y) y = y > 0 ? std::log10(y) : kNaN;
      if (!std::isfinite(x) || !std::isfinite(y)) x = y = kNaN;
      px[i].push_back(x);
      py[i].push_back(y);
      all_x.push_back(x);
      all_y.push_back(y);
    }
  }
  Axis ax, ay;
  // Nothing to draw: empty axes over [0, 1].
  if (!finite_range(all_x, &ax.lo, &ax.hi)) {
    ax.lo = 0;
    ax.hi = 1;
  }
  if (!finite_range(all_y, &ay.lo, &ay.hi)) {
    ay.lo = 0;
    ay.hi = 1;
  }
  widen_if_flat(&ax.lo, &ax.hi, 0.5);
  widen_if_flat(&ay.lo, &ay.hi, 0.5);
  const double ypad = 0.05 * (ay.hi - ay.lo);  // room above and below the curves
  ay.lo -= ypad;
  ay.hi += ypad;

  // ---- layout: margins from the sizes of the texts -------------------------------------------
  const int S = 2;                       // text scale of labels, ticks, legend
  const int TS = width >= 600 ? 3 : 2;   // title scale
  const int text_h = kCapHeight * S;
  const int tick_len = 5, gap = 6;
  const int top = title.empty() ? 16 : 14 + kCapHeight * TS + 16;
  const int bottom = tick_len + gap + text_h + (x_label.empty() ? 0 : 12 + text_h) + 12;
  const int plot_h = height - top - bottom;
  if (log_y) {
    log_ticks(ay, std::clamp(plot_h / 50, 3, 10));
  } else {
    linear_ticks(ay, std::clamp(plot_h / 50, 3, 10));
  }
  int ylab_w = 0;
  for (const std::string& l : ay.labels) ylab_w = std::max(ylab_w, text_width(l, S));
  const int left = 12 + (y_label.empty() ? 0 : text_h + 12) + ylab_w + gap + tick_len;
  // x ticks: as many as fit without their labels touching. The right margin
  // must hold half of a label centred on the right edge, which depends on
  // the ticks: a second pass settles it.
  int right = 24, plot_w = 0;
  for (int pass = 0; pass < 2; ++pass) {
    plot_w = width - left - right;
    SKINMTL_CHECK(plot_w >= 40 && plot_h >= 40,
                  "plot " << path << ": " << width << "x" << height
                          << " leaves no room for the plot area");
    for (int target = std::clamp(plot_w / 90, 3, 10); target >= 2; --target) {
      linear_ticks(ax, target);
      int widest = 0;
      for (const std::string& l : ax.labels) widest = std::max(widest, text_width(l, S));
      const double spacing =
          ax.ticks.size() < 2 ? plot_w : plot_w * (ax.ticks[1] - ax.ticks[0]) / (ax.hi - ax.lo);
      if (widest + 16 <= spacing) break;
    }
    if (ax.ticks.empty()) break;
    // How far the last label reaches past the plot's right edge.
    const double last_px = plot_w * (ax.ticks.back() - ax.lo) / (ax.hi - ax.lo);
    const int overhang = (int)std::ceil(last_px + text_width(ax.labels.back(), S) / 2.0 - plot_w);
    if (overhang + 8 <= right) break;
    right = overhang + 8;
  }

  // The plot area: pixels [x0, x1) x [y0, y1); data map onto its edges.
  const Rect area{left, top, left + plot_w, top + plot_h};
  auto to_px = [&](double x) { return area.x0 + (x - ax.lo) / (ax.hi - ax.lo) * plot_w; };
  auto to_py = [&](double y) { return area.y1 - (y - ay.lo) / (ay.hi - ay.lo) * plot_h; };
  // The pixel column / row of a tick, clamped inside the frame.
  auto tick_col = [&](double x) { return std::clamp((int)std::floor(to_px(x)), area.x0, area.x1 - 1); };
  auto tick_row = [&](double y) { return std::clamp((int)std::floor(to_py(y)), area.y0, area.y1 - 1); };

  Canvas cv(width, height);
  const Rgb black{0, 0, 0}, grid{225, 225, 225}, frame{60, 60, 60};

  // Grid lines under everything.
  for (double t : ax.ticks) cv.fill_rect(tick_col(t), area.y0, tick_col(t) + 1, area.y1, grid);
  for (double t : ay.ticks) cv.fill_rect(area.x0, tick_row(t), area.x1, tick_row(t) + 1, grid);

  // The series, clipped to the inside of the frame.
  const Rect inside{area.x0 + 1, area.y0 + 1, area.x1 - 1, area.y1 - 1};
  std::vector<float> cov((size_t)width * height);
  for (size_t i = 0; i < series.size(); ++i) {
    std::fill(cov.begin(), cov.end(), 0.0f);
    const size_t n = px[i].size();
    for (size_t j = 0; j < n; ++j) {
      if (std::isnan(px[i][j])) continue;
      const bool next_ok = j + 1 < n && !std::isnan(px[i][j + 1]);
      const bool prev_ok = j > 0 && !std::isnan(px[i][j - 1]);
      if (next_ok) {
        stroke_segment(cov, width, inside, to_px(px[i][j]), to_py(py[i][j]), to_px(px[i][j + 1]),
                       to_py(py[i][j + 1]), 2.2);
      } else if (!prev_ok) {  // an isolated point: a dot
        stroke_segment(cov, width, inside, to_px(px[i][j]), to_py(py[i][j]), to_px(px[i][j]),
                       to_py(py[i][j]), 4.0);
      }
    }
    const Rgb c = series[i].color ? *series[i].color : palette_color(i);
    for (int y = inside.y0; y < inside.y1; ++y)
      for (int x = inside.x0; x < inside.x1; ++x) cv.blend(x, y, c, cov[(size_t)y * width + x]);
  }

  // Frame, tick marks (outside the frame) and tick labels.
  cv.fill_rect(area.x0, area.y0, area.x1, area.y0 + 1, frame);
  cv.fill_rect(area.x0, area.y1 - 1, area.x1, area.y1, frame);
  cv.fill_rect(area.x0, area.y0, area.x0 + 1, area.y1, frame);
  cv.fill_rect(area.x1 - 1, area.y0, area.x1, area.y1, frame);
  for (size_t k = 0; k < ax.ticks.size(); ++k) {
    const int c = tick_col(ax.ticks[k]);
    cv.fill_rect(c, area.y1, c + 1, area.y1 + tick_len, frame);
    draw_text(cv, c - text_width(ax.labels[k], S) / 2, area.y1 + tick_len + gap, ax.labels[k], S,
              black);
  }
  for (size_t k = 0; k < ay.ticks.size(); ++k) {
    const int r = tick_row(ay.ticks[k]);
    cv.fill_rect(area.x0 - tick_len, r, area.x0, r + 1, frame);
    draw_text(cv, area.x0 - tick_len - gap - text_width(ay.labels[k], S), r - text_h / 2,
              ay.labels[k], S, black);
  }

  // Axis labels and title, centred.
  if (!x_label.empty())
    draw_text(cv, area.x0 + (plot_w - text_width(x_label, S)) / 2,
              area.y1 + tick_len + gap + text_h + 12, x_label, S, black);
  if (!y_label.empty())
    draw_text_up(cv, 12, area.y0 + (plot_h + text_width(y_label, S)) / 2, y_label, S, black);
  if (!title.empty())
    draw_text(cv, (width - text_width(title, TS)) / 2, 14, title, TS, black);

  // Legend, top right inside the plot: a short line of the colour, the name.
  std::vector<size_t> named;
  int name_w = 0;
  for (size_t i = 0; i < series.size(); ++i)
    if (!series[i].name.empty()) {
      named.push_back(i);
      name_w = std::max(name_w, text_width(series[i].name, S));
    }
  if (!named.empty()) {
    const int sample = 28, pad = 10, row = text_h + 10;
    const int box_w = pad + sample + 8 + name_w + pad, box_h = pad + (int)named.size() * row - 10 + pad;
    const int bx = area.x1 - 10 - box_w, by = area.y0 + 10;
    cv.fill_rect(bx, by, bx + box_w, by + box_h, Rgb{255, 255, 255}, 0.9);
    const Rgb border{170, 170, 170};
    cv.fill_rect(bx, by, bx + box_w, by + 1, border);
    cv.fill_rect(bx, by + box_h - 1, bx + box_w, by + box_h, border);
    cv.fill_rect(bx, by, bx + 1, by + box_h, border);
    cv.fill_rect(bx + box_w - 1, by, bx + box_w, by + box_h, border);
    for (size_t k = 0; k < named.size(); ++k) {
      const size_t i = named[k];
      const Rgb c = series[i].color ? *series[i].color : palette_color(i);
      const int ty = by + pad + (int)k * row;
      cv.fill_rect(bx + pad, ty + text_h / 2 - 1, bx + pad + sample, ty + text_h / 2 + 2, c);
      draw_text(cv, bx + pad + sample + 8, ty, series[i].name, S, black);
    }
  }

  SKINMTL_CHECK(stbi_write_png(path.c_str(), width, height, 3, cv.data(), width * 3) != 0,
                "plot: cannot write the PNG file " << path);
}

void plot_csv(const std::string& csv_path, const std::string& png_path,
              const std::string& x_column, const std::vector<std::string>& y_columns,
              const std::string& title, bool log_y) {
  SKINMTL_CHECK(!y_columns.empty(), "plot " << csv_path << ": no y column given");
  const CsvColumns table = read_csv_columns(csv_path);
  const std::vector<double>& xs = table.column(x_column);
  std::vector<Series> series;
  for (const std::string& name : y_columns) {
    const std::vector<double>& ys = table.column(name);
    Series s;
    s.name = name;
    // Rows without this column (empty cells) are skipped, not gaps: a value
    // logged once per epoch still draws as a connected line.
    for (size_t r = 0; r < xs.size(); ++r)
      if (std::isfinite(xs[r]) && !std::isnan(ys[r])) {
        s.xs.push_back(xs[r]);
        s.ys.push_back(ys[r]);
      }
    series.push_back(std::move(s));
  }
  plot_lines(png_path, title.empty() ? csv_path : title, series, x_column,
             y_columns.size() == 1 ? y_columns[0] : "", log_y);
}

}  // namespace skinmtl
