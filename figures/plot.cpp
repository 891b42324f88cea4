// Line charts as PNG: see figures/plot.h.
//
// The picture is drawn on an io/draw.h Canvas in three kinds of strokes:
//  - rectangles (frame, grid, ticks, legend box), pixel-exact;
//  - text at an integer scale (stb_easy_font), so letters stay sharp;
//  - series: each is stroked into a CoverageMask (anti-aliased, joints not
//    drawn twice) and blended onto the canvas once, with that coverage as alpha.
#include "figures/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "base/check.h"
#include "io/csv_log.h"

namespace skinmtl {

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

// c mixed with white: f = 1 is c itself, f = 0 white.
Rgb tint(Rgb c, double f) {
  auto mix = [f](uint8_t v) { return (uint8_t)std::lround(255.0 * (1 - f) + v * f); };
  return Rgb{mix(c.r), mix(c.g), mix(c.b)};
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

// Linear ticks with labels, for about `target` ticks; `whole`: whole numbers
// only (an axis whose every value is one, such as seeds 1, 2, 3).
void linear_ticks(Axis& a, int target, bool whole = false) {
  const double step = whole ? std::max(1.0, nice_step(a.lo, a.hi, target)) : nice_step(a.lo, a.hi, target);
  a.ticks = whole ? whole_number_ticks(a.lo, a.hi, target) : nice_ticks(a.lo, a.hi, target);
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
  const bool whole_x = !all_x.empty() && std::all_of(all_x.begin(), all_x.end(), [](double x) {
    return !std::isfinite(x) || x == std::floor(x);
  });
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
  // Dots need room: a marker on the first or last x would be cut in half.
  if (std::any_of(series.begin(), series.end(), [](const Series& s) { return s.markers; })) {
    const double xpad = 0.015 * (ax.hi - ax.lo);
    ax.lo -= xpad;
    ax.hi += xpad;
  }
  const double ypad = 0.05 * (ay.hi - ay.lo);  // room above and below the curves
  ay.lo -= ypad;
  ay.hi += ypad;

  // ---- layout: margins from the sizes of the texts -------------------------------------------
  const int S = 2;                       // text scale of labels, ticks, legend
  const int TS = width >= 600 ? 3 : 2;   // title scale
  const int text_h = kFontCapHeight * S;
  const int tick_len = 5, gap = 6;
  const int top = title.empty() ? 16 : 14 + kFontCapHeight * TS + 16;
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
      linear_ticks(ax, target, whole_x);
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

  // The series, clipped to the inside of the frame. Faint ones first, so the
  // others are drawn over them. `ink` counts the series pixels, for placing
  // the legend where it hides the least.
  const Rect inside{area.x0 + 1, area.y0 + 1, area.x1 - 1, area.y1 - 1};
  CoverageMask cov(width, height);
  std::vector<uint8_t> ink((size_t)width * height, 0);
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < series.size(); ++i) {
      if (series[i].faint != (pass == 0)) continue;
      cov.clear();
      const double line_w = series[i].faint ? 1.2 : 2.2;
      const size_t n = px[i].size();
      for (size_t j = 0; j < n; ++j) {
        if (std::isnan(px[i][j])) continue;
        const bool next_ok = j + 1 < n && !std::isnan(px[i][j + 1]);
        const bool prev_ok = j > 0 && !std::isnan(px[i][j - 1]);
        if (next_ok)
          cov.stroke_segment(to_px(px[i][j]), to_py(py[i][j]), to_px(px[i][j + 1]), to_py(py[i][j + 1]), line_w,
                             inside);
        if (series[i].markers || (!next_ok && !prev_ok))  // a dot: a marker, or an isolated point
          cov.stroke_segment(to_px(px[i][j]), to_py(py[i][j]), to_px(px[i][j]), to_py(py[i][j]), 6.0, inside);
      }
      Rgb c = series[i].color ? *series[i].color : palette_color(i);
      if (series[i].faint) c = tint(c, 0.35);
      cov.paint(cv, c, inside);
      for (int y = inside.y0; y < inside.y1; ++y)
        for (int x = inside.x0; x < inside.x1; ++x)
          if (cov.at(x, y) > 0.25f) ink[(size_t)y * width + x] = 1;
    }

  // Frame, tick marks (outside the frame) and tick labels.
  cv.rect_outline(area.x0, area.y0, area.x1, area.y1, frame);
  for (size_t k = 0; k < ax.ticks.size(); ++k) {
    const int c = tick_col(ax.ticks[k]);
    cv.fill_rect(c, area.y1, c + 1, area.y1 + tick_len, frame);
    cv.text(c - text_width(ax.labels[k], S) / 2, area.y1 + tick_len + gap, ax.labels[k], S,
              black);
  }
  for (size_t k = 0; k < ay.ticks.size(); ++k) {
    const int r = tick_row(ay.ticks[k]);
    cv.fill_rect(area.x0 - tick_len, r, area.x0, r + 1, frame);
    cv.text(area.x0 - tick_len - gap - text_width(ay.labels[k], S), r - text_h / 2,
              ay.labels[k], S, black);
  }

  // Axis labels and title, centred.
  if (!x_label.empty())
    cv.text(area.x0 + (plot_w - text_width(x_label, S)) / 2,
              area.y1 + tick_len + gap + text_h + 12, x_label, S, black);
  if (!y_label.empty())
    cv.text_up(12, area.y0 + (plot_h + text_width(y_label, S)) / 2, y_label, S, black);
  if (!title.empty())
    cv.text((width - text_width(title, TS)) / 2, 14, title, TS, black);

  // Legend, top right inside the plot: a short line of the colour, the name.
  std::vector<size_t> named;
  int name_w = 0;
  for (size_t i = 0; i < series.size(); ++i)
    if (!series[i].name.empty() && !series[i].faint) {
      named.push_back(i);
      name_w = std::max(name_w, text_width(series[i].name, S));
    }
  if (!named.empty()) {
    const int sample = 28, pad = 10, row = text_h + 10;
    const int box_w = pad + sample + 8 + name_w + pad, box_h = pad + (int)named.size() * row - 10 + pad;
    // The corner whose box covers the fewest series pixels; ties keep the
    // earlier: top right, top left, bottom right, bottom left.
    const int corners[4][2] = {{area.x1 - 10 - box_w, area.y0 + 10},
                               {area.x0 + 10, area.y0 + 10},
                               {area.x1 - 10 - box_w, area.y1 - 10 - box_h},
                               {area.x0 + 10, area.y1 - 10 - box_h}};
    int bx = corners[0][0], by = corners[0][1];
    long best = -1;
    for (const auto& c : corners) {
      long covered = 0;
      for (int y = std::max(c[1], 0); y < std::min(c[1] + box_h, height); ++y)
        for (int x = std::max(c[0], 0); x < std::min(c[0] + box_w, width); ++x) covered += ink[(size_t)y * width + x];
      if (best < 0 || covered < best) best = covered, bx = c[0], by = c[1];
    }
    cv.fill_rect(bx, by, bx + box_w, by + box_h, Rgb{255, 255, 255}, 0.9);
    const Rgb border{170, 170, 170};
    cv.rect_outline(bx, by, bx + box_w, by + box_h, border);
    for (size_t k = 0; k < named.size(); ++k) {
      const size_t i = named[k];
      const Rgb c = series[i].color ? *series[i].color : palette_color(i);
      const int ty = by + pad + (int)k * row;
      cv.fill_rect(bx + pad, ty + text_h / 2 - 1, bx + pad + sample, ty + text_h / 2 + 2, c);
      cv.text(bx + pad + sample + 8, ty, series[i].name, S, black);
    }
  }

  cv.save_png(path);
}

std::vector<Series> csv_series(const CsvColumns& table, const std::string& x_column,
                               const std::vector<std::string>& y_columns) {
  const std::vector<double>& xs = table.column(x_column);
  std::vector<Series> series;
  for (size_t k = 0; k < y_columns.size(); ++k) {
    const std::string& name = y_columns[k];
    const std::vector<double>& ys = table.column(name);
    Series s;
    s.name = name;
    s.color = palette_color(k);  // the column's colour, for its raw and its smoothed line
    // Rows without this column (empty cells) are skipped, not gaps: a value
    // logged once per epoch still draws as a connected line.
    for (size_t r = 0; r < xs.size(); ++r)
      if (std::isfinite(xs[r]) && !std::isnan(ys[r])) {
        s.xs.push_back(xs[r]);
        s.ys.push_back(ys[r]);
      }
    if (s.xs.size() < kSmoothMinPoints) {
      s.markers = true;
      series.push_back(std::move(s));
      continue;
    }
    // Many values: faint raw values, and their running mean over the last K.
    const size_t K = std::clamp<size_t>(s.xs.size() / 40, 5, 200);
    Series mean;
    mean.name = name + " (mean of " + std::to_string(K) + ")";
    mean.color = s.color;
    mean.xs = s.xs;
    double window = 0;
    size_t in_window = 0;  // finite values in the window
    for (size_t r = 0; r < s.ys.size(); ++r) {
      if (std::isfinite(s.ys[r])) window += s.ys[r], ++in_window;
      if (r >= K && std::isfinite(s.ys[r - K])) window -= s.ys[r - K], --in_window;
      mean.ys.push_back(in_window > 0 ? window / (double)in_window : NAN);
    }
    s.faint = true;
    series.push_back(std::move(s));
    series.push_back(std::move(mean));
  }
  return series;
}

void plot_csv(const std::string& csv_path, const std::string& png_path,
              const std::string& x_column, const std::vector<std::string>& y_columns,
              const std::string& title, bool log_y) {
  SKINMTL_CHECK(!y_columns.empty(), "plot " << csv_path << ": no y column given");
  const CsvColumns table = read_csv_columns(csv_path);
  plot_lines(png_path, title.empty() ? csv_path : title, csv_series(table, x_column, y_columns), x_column,
             y_columns.size() == 1 ? y_columns[0] : "", log_y);
}

}  // namespace skinmtl
