// The heatmap of R: see figures/correlation_heatmap.h.
#include "figures/correlation_heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "base/check.h"
#include "io/draw.h"

namespace skinmtl {

Image correlation_heatmap(const LesionLocationMatrix& m,
                          const std::vector<std::string>& lesion_names,
                          const std::vector<std::string>& location_names,
                          const HeatmapOptions& opt) {
  const int P = m.num_lesions, Q = m.num_locations;
  SKINMTL_CHECK(P >= 1 && Q >= 1 && m.R.size() == (size_t)P * Q,
                "correlation_heatmap: the matrix is empty or inconsistent (" << P << " x " << Q
                                                                             << ")");
  SKINMTL_CHECK((int)lesion_names.size() == P && (int)location_names.size() == Q,
                "correlation_heatmap: " << lesion_names.size() << " lesion names and "
                                        << location_names.size() << " location names for a " << P
                                        << " x " << Q << " matrix");
  SKINMTL_CHECK(opt.cell >= 8, "correlation_heatmap: cell size " << opt.cell << " is below 8");

  // The colour scale [0, vmax].
  double vmax = opt.vmax;
  if (!(vmax > 0)) {
    double top = 0;
    for (double r : m.R)
      if (!std::isnan(r)) top = std::max(top, r);
    vmax = top > 0 ? std::ceil(top * 10 - 1e-9) / 10 : 1.0;
  }

  // ---- layout --------------------------------------------------------------------------------
  const int S = 2, TS = 2;               // label and title text scales
  const int text_h = kFontCapHeight * S;
  const int margin = 16, cell = opt.cell;
  std::vector<std::string> row_labels;
  int row_w = 0;
  for (int i = 0; i < P; ++i) {
    row_labels.push_back(lesion_names[i] + " (n=" + std::to_string(m.lesion_count[i]) + ")");
    row_w = std::max(row_w, text_width(row_labels.back(), S));
  }
  int col_h = 0;
  for (const std::string& n : location_names) col_h = std::max(col_h, text_width(n, S));
  const std::string x_title = "body location";
  const int title_h = opt.title.empty() ? 0 : kFontCapHeight * TS + 16;
  const int gx = margin + row_w + 10, gy = margin + title_h;  // grid's top-left
  const int gw = Q * cell, gh = P * cell;
  const int bar_x = gx + gw + 20, bar_w = 18, bar_h = std::max(gh, 120);
  const int right = bar_x + colorbar_width(bar_w, bar_h, 0.0, vmax, S, "R_ij") + margin;
  // A footnote: how many images the matrix counts, and how many it left out.
  std::string note = std::to_string(m.images) + " images";
  if (m.unknown_location > 0)
    note += ", " + std::to_string(m.unknown_location) + " with unknown location left out";
  const int note_y = gy + std::max(gh + 8 + col_h + 12 + text_h, bar_h) + 14;
  const int bottom = note_y + text_h + margin;
  const int title_w = text_width(opt.title, TS) + 2 * margin;
  Canvas cv(std::max(right, title_w), bottom);

  if (!opt.title.empty()) cv.text((cv.width() - text_width(opt.title, TS)) / 2, margin, opt.title, TS, kBlack);

  // Cells, separated by 1-pixel white lines (the canvas shows through).
  const int vs = cell >= 56 ? 2 : 1;  // value text scale
  const bool values = opt.show_values && cell >= 28;
  for (int i = 0; i < P; ++i)
    for (int j = 0; j < Q; ++j) {
      const double r = m.at(i, j);
      const int x = gx + j * cell, y = gy + i * cell;
      const Rgb c = std::isnan(r) ? Rgb{200, 200, 200} : viridis(r / vmax);
      cv.fill_rect(x, y, x + cell - 1, y + cell - 1, c);
      if (!values) continue;
      char buf[16];
      if (std::isnan(r)) {
        std::snprintf(buf, sizeof buf, "n/a");
      } else {
        std::snprintf(buf, sizeof buf, "%.2f", r);
      }
      const int tw = text_width(buf, vs);
      cv.text(x + (cell - 1 - tw) / 2, y + (cell - 1 - kFontCapHeight * vs) / 2, buf, vs,
              text_color_on(c));
    }

  // Row labels, right-aligned against the grid, centred on their row.
  for (int i = 0; i < P; ++i)
    cv.text(gx - 10 - text_width(row_labels[i], S), gy + i * cell + (cell - 1 - text_h) / 2,
            row_labels[i], S, kBlack);
  // Column labels under the grid, written upwards, ending just below it.
  for (int j = 0; j < Q; ++j)
    cv.text_up(gx + j * cell + (cell - 1 - text_h) / 2,
               gy + gh + 8 + text_width(location_names[j], S), location_names[j], S, kBlack);
  cv.text(gx + (gw - text_width(x_title, S)) / 2, gy + gh + 8 + col_h + 12, x_title, S,
          Rgb{80, 80, 80});

  draw_colorbar(cv, bar_x, gy, bar_w, bar_h, 0.0, vmax, S, "R_ij");
  cv.text(margin, note_y, fit_text(note, cv.width() - 2 * margin, S), S, Rgb{80, 80, 80});
  return cv.image();
}

void save_correlation_heatmap(const std::string& path, const LesionLocationMatrix& m,
                              const std::vector<std::string>& lesion_names,
                              const std::vector<std::string>& location_names,
                              const HeatmapOptions& options) {
  save_png(path, correlation_heatmap(m, lesion_names, location_names, options));
}

}  // namespace skinmtl
