// metrics/correlation.h: the lesion-by-location matrix R of Liao & Luo (2016),
// eq. 1 and Figure 1. Its heatmap is drawn by figures/correlation_heatmap.h.
//
// The paper: "Let N_i denote the total number of images in our dataset that has
// lesion i and M_j denote the total number of images that has body location j.
// Then, the cell at (i, j) can be computed by
//     R_ij = (N_i ∩ M_j) / N_i                                          (1)"
// and Figure 1's caption: "A cell at (i, j) denotes the proportion of the
// images with both label i and label j among all the i images". So N_i and M_j
// are read as SETS of images in the numerator and as their sizes in the
// denominator:
//     R_ij = |{images with lesion i AND location j}| / |{images with lesion i}|,
// the fraction of lesion-i images taken at site j: the conditional frequency
// P(location j | lesion i). Rows (lesions) are normalised, not columns.
//
// Every image has exactly one body location, so each row sums to 1; a lesion
// with no site preference spreads evenly, R_ij ~ 1/Q for Q locations ("if a
// skin lesion has no specific predilection of body locations, then cells in
// the corresponding row should all have values close to 1/23"), and a lesion
// tied to one site has a cell near 1 (the paper's alopecia and scalp).
//
// Decisions the paper leaves open, made here:
//   - An image with several lesion labels counts once in each of their rows.
//     A label repeated within one image counts once.
//   - Images whose location is unknown (-1) are left out of N_i as well as of
//     M_j; otherwise their rows could not sum to 1. They are counted in
//     `unknown_location`.
//   - A lesion with no (located) image has no row to normalise: R is NaN there
//     (drawn as a grey "n/a" row in the heatmap).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/manifest.h"

namespace skinmtl {

struct LesionLocationMatrix {
  int num_lesions = 0;    // P, rows
  int num_locations = 0;  // Q, columns
  std::vector<int64_t> joint;         // (P, Q) row-major: |N_i ∩ M_j|
  std::vector<int64_t> lesion_count;  // (P): |N_i|, images with lesion i and a known location
  std::vector<double> R;              // (P, Q): joint / lesion_count, NaN where lesion_count = 0
  int64_t images = 0;                 // images counted (known location)
  int64_t unknown_location = 0;       // images left out (location -1)

  double at(int i, int j) const { return R[(size_t)i * num_locations + j]; }
};

// R from labels: lesions[n] = lesion class indices of image n (in [0, P)),
// locations[n] = its location index (in [0, Q)) or -1 when unknown.
// Errors: different lengths, an index out of range, P or Q < 1.
LesionLocationMatrix lesion_location_matrix(const std::vector<std::vector<int>>& lesions,
                                            const std::vector<int>& locations, int num_lesions,
                                            int num_locations);
// The same over a data set's samples, with its class lists (io/manifest.h).
LesionLocationMatrix lesion_location_matrix(const Manifest& manifest);

}  // namespace skinmtl
