// figures/correlation_heatmap.h: the heatmap of the lesion-by-location matrix
// R of Liao & Luo (2016), eq. 1 (metrics/correlation.h), like their Figure 1.
#pragma once

#include <string>
#include <vector>

#include "io/image.h"
#include "metrics/correlation.h"

namespace skinmtl {

// The heatmap (like the paper's Figure 1): one row per lesion, labelled on the
// left with its name and image count "name (n=123)", one column per location,
// labelled under the grid with its name written upwards; each cell coloured with
// viridis over [0, vmax] and, when cells are large enough, its value printed in
// it with 2 decimals; a colour bar over [0, vmax] on the right; a title on top;
// a footnote with the number of images counted and left out.
// vmax <= 0 (the default) means the largest R (rounded up to a tenth), so the
// colours use the whole scale for the data at hand (on HAM10000 every R lies
// under 0.34); vmax = 1 compares data sets on one scale.
struct HeatmapOptions {
  std::string title = "Lesion vs body location: R_ij = #(lesion i, site j) / #(lesion i)";
  double vmax = 0;
  int cell = 40;            // cell size in pixels (>= 8)
  bool show_values = true;  // print R in the cells (only when cell >= 28)
};

Image correlation_heatmap(const LesionLocationMatrix& m,
                          const std::vector<std::string>& lesion_names,
                          const std::vector<std::string>& location_names,
                          const HeatmapOptions& options = {});
void save_correlation_heatmap(const std::string& path, const LesionLocationMatrix& m,
                              const std::vector<std::string>& lesion_names,
                              const std::vector<std::string>& location_names,
                              const HeatmapOptions& options = {});

}  // namespace skinmtl
