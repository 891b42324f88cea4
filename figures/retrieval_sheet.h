// figures/retrieval_sheet.h: the contact sheet of Liao & Luo (2016), Figure 3
// columns D to H: each query image next to the images nearest to it in
// feature space (nets/retrieval.h), framed green when they share a lesion label
// with the query and red (dotted) when they do not.
#pragma once

#include <string>
#include <vector>

#include "io/draw.h"
#include "io/image.h"

namespace skinmtl {

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
