// figures/plot.h: line charts of training curves, written as PNG files.
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
// fixed palette (Tableau 10, as matplotlib's default cycle). The legend goes
// to whichever corner of the plot area (top right first) covers the least of
// the curves.
//
// Points with a non-finite x or y (a NaN from an empty CSV cell, a diverged
// loss), or y <= 0 on a log axis, are left out and break the line there.
// log_y plots log10(y) with labels 1e-3 style at powers of ten.
//
// The drawing (canvas, anti-aliased strokes, stb_easy_font text, PNG output)
// is io/draw.h's.
//
// plot_csv() re-plots columns of a CSV file written by CsvLog (io/csv_log.h),
// so a command can redraw the curves of a run at any time.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "io/draw.h"

namespace skinmtl {

struct Series {
  std::string name;             // shown in the legend
  std::vector<double> xs, ys;   // the points, same length, in drawing order
  std::optional<Rgb> color;     // unset: palette_color(index of the series)
  bool faint = false;           // a thin line in a pale tint of the colour, not in the legend
  bool markers = false;         // a dot at every point (sparse series: held-out values)
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
// A column of kSmoothMinPoints values or more (a per-iteration loss) is drawn
// twice in its colour: every value as a faint line, and their running mean
// over the last K values (K = n / 40, from 5 to 200) as the line the legend
// names "loss (mean of K)". A shorter column (held-out values) is a line with
// a dot at each value, so a single evaluation is visible too.
constexpr size_t kSmoothMinPoints = 50;
struct CsvColumns;  // io/csv_log.h
// The series plot_csv draws for those columns of a table (see above).
std::vector<Series> csv_series(const CsvColumns& table, const std::string& x_column,
                               const std::vector<std::string>& y_columns);
void plot_csv(const std::string& csv_path, const std::string& png_path,
              const std::string& x_column, const std::vector<std::string>& y_columns,
              const std::string& title = "", bool log_y = false);

// The tick helpers (nice_ticks, nice_step, format_tick), the colours (Rgb,
// palette_color) and the canvas the chart is drawn on live in io/draw.h.

}  // namespace skinmtl
