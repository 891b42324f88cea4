// io/plot.h: line charts of training curves, written as PNG files.
//
//   plot_lines("runs/a/loss.png", "ResNet-50 MTL, training loss",
//              {{"train", iters, train_loss}, {"val", epochs_iters, val_loss}},
//              "iteration", "loss");
//
// draws a white 800x500 image: the title on top, a framed plot area with a
// light grid, tick marks and numeric labels on both axes ("nice" steps of 1,
// 2 or 5 times a power of ten), the axis labels (the y label turned on its
// side), each series as an anti-aliased line about 2 px wide, and a legend in
// the top-right corner. A series without a colour takes the next one of a
// fixed palette (Tableau 10, as matplotlib's default cycle).
//
// Points with a non-finite x or y (a NaN from an empty CSV cell, a diverged
// loss), or y <= 0 on a log axis, are left out and break the line there.
// log_y plots log10(y) with labels 1e-3 style at powers of ten.
//
// Text uses stb_easy_font (a tiny public-domain font made of segments, from
// Debian's libstb-dev), drawn at an integer scale so it stays crisp. The PNG
// encoder is stb_image_write; both are compiled once, in io/stb_impl.cpp.
//
// plot_csv() re-plots columns of a CSV file written by CsvLog (io/csv_log.h),
// so a command can redraw the curves of a run at any time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/image.h"

namespace skinmtl {

struct Rgb {
  uint8_t r, g, b;
};

// The palette's i-th colour (cycling after 10).
Rgb palette_color(size_t i);

struct Series {
  std::string name;             // shown in the legend
  std::vector<double> xs, ys;   // the points, same length, in drawing order
  std::optional<Rgb> color;     // unset: palette_color(index of the series)
};

// Writes the chart to `path` (PNG). Errors (mismatched xs/ys, a file that
// cannot be written) name the file. width/height: at least 240 x 160.
void plot_lines(const std::string& path, const std::string& title,
                const std::vector<Series>& series, const std::string& x_label,
                const std::string& y_label, bool log_y = false, int width = 800,
                int height = 500);

// Plots the columns `y_columns` of a CSV file (io/csv_log.h) against the column
// `x_column`, one series per column, named after it. An empty title uses the
// CSV file's path. Rows where a column is empty are simply left out of that
// series (e.g. a validation loss logged once per epoch).
void plot_csv(const std::string& csv_path, const std::string& png_path,
              const std::string& x_column, const std::vector<std::string>& y_columns,
              const std::string& title = "", bool log_y = false);

// ---- text on images ------------------------------------------------------------------------
//
// The chart's font, for labelling pictures (contact sheets, overlays). Only
// printable ASCII; anything else is drawn as '?'.

// Draws `text` onto an RGB image (3 channels) in solid `color`, starting at
// column x, with capitals and digits spanning rows [y, y + 7 * scale)
// (descenders reach 2 * scale lower). Pixels outside the image are skipped.
void draw_text(Image& image, int x, int y, const std::string& text, int scale, Rgb color);
// The width in pixels of `text` drawn at `scale` (0 for "").
int text_width(const std::string& text, int scale);

// ---- the pieces, exposed for tests ---------------------------------------------------------

// Tick values in [lo, hi] at a "nice" step (1, 2 or 5 x 10^k) giving about
// `target` ticks. lo < hi. Values within 1e-9 steps of zero are exactly 0.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);
// The step nice_ticks chose for [lo, hi]: 1, 2 or 5 x 10^k.
double nice_step(double lo, double hi, int target = 6);
// A tick label: as many decimals as the step needs ("0.25" needs 2 for step
// 0.05, "100" none for step 20), %g form for very large or small values.
std::string format_tick(double value, double step);

}  // namespace skinmtl
