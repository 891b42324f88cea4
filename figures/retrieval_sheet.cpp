// The contact sheet: see figures/retrieval_sheet.h.
#include "figures/retrieval_sheet.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/check.h"
#include "nets/retrieval.h"  // shares_label, the rule for the frame colour

namespace skinmtl {

int RetrievalSheetLayout::tile_x(int col) const {
  return margin + frame + col * (tile + 2 * frame + col_gap) + (col >= 1 ? query_gap : 0);
}

int RetrievalSheetLayout::tile_y(int row) const {
  return margin + header_h + row * row_h + frame;
}

RetrievalSheetLayout retrieval_sheet_layout(int rows, int k, int tile, int label_lines) {
  SKINMTL_CHECK(rows >= 1 && k >= 1, "retrieval sheet: need at least one row and one retrieved "
                                     "image, got " << rows << " rows, k = " << k);
  SKINMTL_CHECK(tile >= 32, "retrieval sheet: tile size " << tile << " is too small (>= 32)");
  SKINMTL_CHECK(label_lines >= 1, "retrieval sheet: label_lines must be >= 1");
  RetrievalSheetLayout L;
  L.rows = rows;
  L.k = k;
  L.tile = tile;
  L.frame = tile >= 96 ? 4 : 2;
  L.margin = 12;
  L.col_gap = 12;
  L.query_gap = 24;  // the query column stands apart, with a rule in the gap
  L.text_scale = tile >= 120 ? 2 : 1;
  L.line_h = 11 * L.text_scale;  // capitals 7 units, descenders 9, 2 units of leading
  L.text_lines = 1 + label_lines;  // the distance (or "query"), then the labels
  L.header_h = kFontCapHeight * L.text_scale + 10;
  L.row_h = 2 * L.frame + tile + 6 + L.text_lines * L.line_h + 10;
  L.width = L.tile_x(k) + tile + L.frame + L.margin;
  L.height = L.margin + L.header_h + rows * L.row_h + L.margin - 10;
  return L;
}

namespace {

// The image as a tile x tile square: its central square, resized.
Image square_tile(const Image& image, int tile) {
  SKINMTL_CHECK(!image.empty(), "retrieval sheet: an image is empty");
  const int side = std::min(image.height, image.width);
  return resize(center_crop(image, side, side), tile, tile);
}

std::string label_text(const std::vector<int>& lesions, const std::vector<std::string>& names) {
  std::string s;
  for (int l : lesions) {
    SKINMTL_CHECK(l >= 0 && l < (int)names.size(), "retrieval sheet: lesion label "
                                                       << l << " is outside the " << names.size()
                                                       << " class names");
    if (!s.empty()) s += ", ";
    s += names[l];
  }
  return s.empty() ? "(no label)" : s;
}

// Draws one tile with its frame and the text lines under it.
void draw_tile(Canvas& cv, const RetrievalSheetLayout& L, int x, int y, const RetrievalTile& t,
               const std::string& first_line, const std::vector<std::string>& names, Rgb frame,
               bool dashed) {
  cv.draw_image(square_tile(t.image, L.tile), x, y);
  const int fx0 = x - L.frame, fy0 = y - L.frame, fx1 = x + L.tile + L.frame,
            fy1 = y + L.tile + L.frame;
  if (dashed) {
    cv.dashed_rect_outline(fx0, fy0, fx1, fy1, frame, L.frame, 10, 6);
  } else {
    cv.rect_outline(fx0, fy0, fx1, fy1, frame, L.frame);
  }
  const int s = L.text_scale, text_w = L.tile + 2 * L.frame;
  int ty = fy1 + 6;
  cv.text(fx0, ty, fit_text(first_line, text_w, s), s, Rgb{90, 90, 90});
  for (const std::string& line : wrap_text(label_text(t.lesions, names), text_w, s, L.text_lines - 1)) {
    ty += L.line_h;
    cv.text(fx0, ty, line, s, kBlack);
  }
}

}  // namespace

Image retrieval_sheet(const std::vector<RetrievalRow>& rows,
                      const std::vector<std::string>& lesion_names, int tile, int label_lines) {
  SKINMTL_CHECK(!rows.empty(), "retrieval sheet: no rows");
  const int k = (int)rows[0].retrieved.size();
  for (size_t r = 0; r < rows.size(); ++r)
    SKINMTL_CHECK((int)rows[r].retrieved.size() == k,
                  "retrieval sheet: row " << r << " has " << rows[r].retrieved.size()
                                          << " retrieved images, row 0 has " << k);
  const RetrievalSheetLayout L = retrieval_sheet_layout((int)rows.size(), k, tile, label_lines);
  Canvas cv(L.width, L.height);
  const int s = L.text_scale;

  // Column headers, centred over the tiles.
  for (int c = 0; c <= k; ++c) {
    const std::string h = c == 0 ? "query" : "#" + std::to_string(c);
    cv.text(L.tile_x(c) + (L.tile - text_width(h, s)) / 2, L.margin, h, s, kBlack);
  }
  // A thin rule between the query column and the retrieved ones.
  const int rule_x = L.tile_x(0) + L.tile + L.frame + (L.col_gap + L.query_gap) / 2;
  cv.fill_rect(rule_x, L.margin + L.header_h, rule_x + 1, L.height - L.margin, Rgb{200, 200, 200});

  for (int r = 0; r < (int)rows.size(); ++r) {
    const RetrievalRow& row = rows[r];
    draw_tile(cv, L, L.tile_x(0), L.tile_y(r), row.query, "query", lesion_names, kQueryFrame,
              false);
    for (int c = 0; c < k; ++c) {
      const RetrievalTile& t = row.retrieved[c];
      const bool match = shares_label(t.lesions, row.query.lesions);
      char d[48];
      std::snprintf(d, sizeof d, "d = %.4g", t.distance);
      draw_tile(cv, L, L.tile_x(c + 1), L.tile_y(r), t, d, lesion_names,
                match ? kShareGreen : kNoShareRed, !match);
    }
  }
  return cv.image();
}

void save_retrieval_sheet(const std::string& path, const std::vector<RetrievalRow>& rows,
                          const std::vector<std::string>& lesion_names, int tile,
                          int label_lines) {
  save_png(path, retrieval_sheet(rows, lesion_names, tile, label_lines));
}

}  // namespace skinmtl
