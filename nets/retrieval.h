// nets/retrieval.h: image retrieval by nearest neighbours in feature space, and
// the contact sheet of Liao & Luo (2016), Figure 3 columns D to H.
//
// Liao & Luo take the output of the last pooling layer (pool5, 2048 values for
// ResNet-50; nets/resnet50.h features()) as an image's feature vector, compare
// each test image's features with those of every training image, and show the
// 5 nearest in Euclidean distance. "If a retrieved image matches at least one
// label of the query image, we annotate it with a green solid frame.
// Otherwise, we annotate it with a red dotted frame."
//
// Search (nearest_neighbours): exact, brute force. For every query q and
// database item m the squared distance sum_d (q_d - x_d)^2 is computed in
// double precision directly from the differences, never through the expansion
// |q|^2 - 2 q.x + |x|^2, which cancels catastrophically for near points and can
// make a point's distance to itself nonzero. The k smallest are returned in
// increasing distance; EQUAL distances are ordered by the lower database index
// first (so the result is deterministic, and a duplicate of the query found
// twice comes out in index order). Queries run in parallel (OpenMP); each
// query's answer is independent of the thread count.
// Cost: Q * M * D multiply-adds, e.g. 2000 queries x 8000 training images x
// 2048 features = 3.3e10, tens of seconds on a few cores.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/tensor.h"
#include "io/draw.h"
#include "io/image.h"

namespace skinmtl {

struct Neighbour {
  int64_t index;    // row of the database
  double distance;  // Euclidean (not squared)
};

// The k nearest database rows of each query: result[q] holds k Neighbours in
// increasing distance (ties: lower index first).
//   database (M, D), queries (Q, D): float32 or float64, any device (copied to
//   the CPU explicitly). 1 <= k <= M.
// Errors: ranks other than 2, D mismatch, k out of range, non-finite features.
std::vector<std::vector<Neighbour>> nearest_neighbours(const Tensor& database,
                                                       const Tensor& queries, int k);

// True when the two label lists (lesion class indices) share at least one label.
bool shares_label(const std::vector<int>& a, const std::vector<int>& b);

// ---- the contact sheet ---------------------------------------------------------------------

// One picture of the sheet: the image (grey or RGB, any size: it is centre
// cropped to a square and resized to the tile), its lesion labels (indices
// into the class names), and for a retrieved image its distance to the query.
struct RetrievalTile {
  Image image;
  std::vector<int> lesions;
  double distance = 0;  // shown under retrieved tiles
};

// One row: a query and what it retrieved, nearest first.
struct RetrievalRow {
  RetrievalTile query;
  std::vector<RetrievalTile> retrieved;
};

// Where things are on the sheet (pixels), for the drawing code and the tests.
//   columns: the query, a gap, then k retrieved tiles. Every tile is
//   tile x tile pixels, inside a frame `frame` pixels wide (drawn outside the
//   tile); under it, text lines: the distance (retrieved) or "query", then the
//   label names, wrapped, at most label_lines lines.
struct RetrievalSheetLayout {
  int rows = 0, k = 0;
  int tile = 0, frame = 0, margin = 0, col_gap = 0, query_gap = 0;
  int header_h = 0, text_scale = 0, line_h = 0, text_lines = 0, row_h = 0;
  int width = 0, height = 0;
  // Top-left pixel of the tile image at (row, col); col 0 is the query, 1..k the retrieved.
  int tile_x(int col) const;
  int tile_y(int row) const;
};
RetrievalSheetLayout retrieval_sheet_layout(int rows, int k, int tile = 160, int label_lines = 3);

// The frame colours: green (solid) when a retrieved image shares a lesion
// label with its query, red (dashed, 10 px on / 6 off, like the paper's dotted
// frame, so the two differ without colour too); the query's frame is dark grey.
constexpr Rgb kShareGreen{20, 170, 60};
constexpr Rgb kNoShareRed{220, 30, 30};
constexpr Rgb kQueryFrame{70, 70, 70};

// Draws the sheet: a header ("query", "1" ... "k"), then one row per query.
// Every row must have the same number (>= 1) of retrieved tiles. lesion_names
// maps label indices to names (an index outside it is an error).
Image retrieval_sheet(const std::vector<RetrievalRow>& rows,
                      const std::vector<std::string>& lesion_names, int tile = 160,
                      int label_lines = 3);
void save_retrieval_sheet(const std::string& path, const std::vector<RetrievalRow>& rows,
                          const std::vector<std::string>& lesion_names, int tile = 160,
                          int label_lines = 3);

}  // namespace skinmtl
