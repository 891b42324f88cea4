// nets/retrieval.h and figures/retrieval_sheet.h: exact nearest neighbours on hand-made points (order,
// distances, ties by lower index, k = M), against a brute-force reference on
// random data, errors, and the contact sheet's size and frame colours read
// back from the PNG.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "figures/retrieval_sheet.h"
#include "io/draw.h"
#include "nets/retrieval.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

std::vector<int64_t> indices(const std::vector<Neighbour>& ns) {
  std::vector<int64_t> out;
  for (const Neighbour& n : ns) out.push_back(n.index);
  return out;
}

TEST(Retrieval, NearestNeighboursOnHandMadePoints) {
  // Database on a line in 2-D: x = 0, 10, 3, 7, -2 (y = 0).
  const Tensor db = Tensor::from_vector(std::vector<double>{0, 0, 10, 0, 3, 0, 7, 0, -2, 0}, {5, 2});
  // Queries: (4, 0) -> 3 (d 1), 7 (d 3), 0 (d 4); (0, 3) -> 0 (d 3), 3 (d sqrt 18), -2 (d sqrt 13).
  const Tensor q = Tensor::from_vector(std::vector<double>{4, 0, 0, 3}, {2, 2});
  const auto r = nearest_neighbours(db, q, 3);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(indices(r[0]), (std::vector<int64_t>{2, 3, 0}));
  EXPECT_DOUBLE_EQ(r[0][0].distance, 1.0);
  EXPECT_DOUBLE_EQ(r[0][1].distance, 3.0);
  EXPECT_DOUBLE_EQ(r[0][2].distance, 4.0);
  EXPECT_EQ(indices(r[1]), (std::vector<int64_t>{0, 4, 2}));
  EXPECT_DOUBLE_EQ(r[1][0].distance, 3.0);
  EXPECT_DOUBLE_EQ(r[1][1].distance, std::sqrt(13.0));
  EXPECT_DOUBLE_EQ(r[1][2].distance, std::sqrt(18.0));
  // k = M: everything, sorted; x = 10 and x = -2 are both 6 away from (4, 0),
  // a tie, so index 1 comes before index 4.
  EXPECT_EQ(indices(nearest_neighbours(db, q, 5)[0]), (std::vector<int64_t>{2, 3, 0, 1, 4}));
  // A query equal to a database row finds it at distance exactly 0.
  const auto self = nearest_neighbours(db, db, 1);
  for (int m = 0; m < 5; ++m) {
    EXPECT_EQ(self[m][0].index, m);
    EXPECT_EQ(self[m][0].distance, 0.0);
  }
}

TEST(Retrieval, TiesGoToTheLowerIndex) {
  // Four points at distance 1 from the origin, one duplicate pair, and a far point.
  const Tensor db = Tensor::from_vector(
      std::vector<double>{5, 5, 0, 1, 1, 0, 0, -1, -1, 0, 0, 1}, {6, 2});
  const Tensor q = Tensor::from_vector(std::vector<double>{0, 0}, {1, 2});
  // Rows 1..5 all at distance 1; the order must be by index.
  EXPECT_EQ(indices(nearest_neighbours(db, q, 4)[0]), (std::vector<int64_t>{1, 2, 3, 4}));
  // The duplicate rows 1 and 5 of a query at (0, 1): 1 before 5.
  const Tensor q2 = Tensor::from_vector(std::vector<double>{0, 1}, {1, 2});
  EXPECT_EQ(indices(nearest_neighbours(db, q2, 2)[0]), (std::vector<int64_t>{1, 5}));
  // The same points stored in reverse order: the duplicates are now rows 0
  // and 4, and again the lower index comes first.
  const Tensor rev = Tensor::from_vector(
      std::vector<double>{0, 1, -1, 0, 0, -1, 1, 0, 0, 1, 5, 5}, {6, 2});
  EXPECT_EQ(indices(nearest_neighbours(rev, q2, 2)[0]), (std::vector<int64_t>{0, 4}));
}

TEST(Retrieval, MatchesBruteForceOnRandomData) {
  // Odd sizes, D not a multiple of 4 (the remainder loop), float32 and mixed dtypes.
  Rng rng(11);
  const int M = 37, Q = 9, D = 13, k = 5;
  const Tensor db = test::uniform64({M, D}, rng), q = test::uniform64({Q, D}, rng);
  const std::vector<double> dv = db.to_vector(), qv = q.to_vector();
  const auto r = nearest_neighbours(db, q, k);
  const auto r32 = nearest_neighbours(db.to(DType::F32), q.to(DType::F32), k);
  const auto rmix = nearest_neighbours(db.to(DType::F32), q, k);
  for (int i = 0; i < Q; ++i) {
    std::vector<std::pair<double, int64_t>> all;
    for (int m = 0; m < M; ++m) {
      double s = 0;
      for (int d = 0; d < D; ++d) s += (qv[i * D + d] - dv[m * D + d]) * (qv[i * D + d] - dv[m * D + d]);
      all.push_back({std::sqrt(s), m});
    }
    std::sort(all.begin(), all.end());
    for (int j = 0; j < k; ++j) {
      EXPECT_EQ(r[i][j].index, all[j].second) << i << ", " << j;
      EXPECT_NEAR(r[i][j].distance, all[j].first, 1e-12);
      EXPECT_EQ(r32[i][j].index, all[j].second);  // float32 rounding does not reorder here
      EXPECT_NEAR(r32[i][j].distance, all[j].first, 1e-5);
      EXPECT_EQ(rmix[i][j].index, all[j].second);
    }
  }
}

TEST(Retrieval, Errors) {
  const Tensor db = Tensor::zeros({4, 3}), q = Tensor::zeros({2, 3});
  EXPECT_ERROR_WITH(nearest_neighbours(db, q, 5), "k = 5", "M = 4");  // k > M
  EXPECT_THROW(nearest_neighbours(db, q, 0), Error);
  EXPECT_ERROR_WITH(nearest_neighbours(db, Tensor::zeros({2, 2}), 1), "features");  // D mismatch
  EXPECT_THROW(nearest_neighbours(Tensor::zeros({4, 3, 1}), q, 1), Error);
  EXPECT_THROW(nearest_neighbours(db, Tensor(), 1), Error);
  EXPECT_THROW(nearest_neighbours(db, Tensor::full({1, 3}, NAN), 1), Error);
}

TEST(Retrieval, SharesLabel) {
  EXPECT_TRUE(shares_label({1, 4}, {4}));
  EXPECT_TRUE(shares_label({0}, {2, 0, 7}));
  EXPECT_FALSE(shares_label({1, 2}, {3}));
  EXPECT_FALSE(shares_label({}, {3}));
}

// A plain tile image of one colour.
Image solid(int h, int w, Rgb c) {
  Image img(h, w, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(y, x, 0) = c.r;
      img.at(y, x, 1) = c.g;
      img.at(y, x, 2) = c.b;
    }
  return img;
}

Rgb px(const Image& im, int x, int y) { return Rgb{im.at(y, x, 0), im.at(y, x, 1), im.at(y, x, 2)}; }

TEST(Retrieval, ContactSheetSizeAndFrames) {
  const std::vector<std::string> names{"nodule", "erosion/ulcer/atrophy", "alopecia", "scale"};
  const Rgb grey{150, 150, 150};
  // Two queries with k = 3. Row 0: labels {0, 2}; retrieved {2} (shares), {1}
  // (does not), {3, 0} (shares). Row 1: {1}; retrieved {1}, {0}, {2}.
  std::vector<RetrievalRow> rows(2);
  rows[0].query = {solid(50, 80, grey), {0, 2}, 0};
  rows[0].retrieved = {{solid(60, 60, grey), {2}, 1.5},
                       {solid(90, 40, grey), {1}, 2.25},
                       {solid(30, 30, grey), {3, 0}, 3.0}};
  rows[1].query = {solid(40, 40, grey), {1}, 0};
  rows[1].retrieved = {{solid(40, 40, grey), {1}, 0.5},
                       {solid(40, 40, grey), {0}, 0.75},
                       {solid(40, 40, grey), {2}, 1.0}};
  const bool want_green[2][3] = {{true, false, true}, {true, false, false}};

  const int tile = 128;
  const RetrievalSheetLayout L = retrieval_sheet_layout(2, 3, tile);
  test::TempDir dir;
  save_retrieval_sheet(dir.path("sheet.png"), rows, names, tile);
  const Image im = load_image(dir.path("sheet.png"));
  ASSERT_EQ(im.width, L.width);
  ASSERT_EQ(im.height, L.height);
  // The layout's arithmetic: margins + 4 columns of framed tiles + gaps.
  EXPECT_EQ(L.width, 2 * L.margin + 4 * (tile + 2 * L.frame) + 3 * L.col_gap + L.query_gap);

  for (int r = 0; r < 2; ++r) {
    // The tile itself shows the (resized) image.
    EXPECT_EQ(px(im, L.tile_x(0) + tile / 2, L.tile_y(r) + tile / 2), grey);
    // The query frame: dark grey at its top-left corner.
    EXPECT_EQ(px(im, L.tile_x(0) - 1, L.tile_y(r) - 1), kQueryFrame);
    for (int c = 1; c <= 3; ++c) {
      const int x0 = L.tile_x(c) - L.frame, y0 = L.tile_y(r) - L.frame;
      const int x1 = L.tile_x(c) + tile + L.frame - 1, y1 = L.tile_y(r) + tile + L.frame - 1;
      const Rgb want = want_green[r][c - 1] ? kShareGreen : kNoShareRed;
      // All four corners carry the frame colour (dashes start at corners).
      EXPECT_EQ(px(im, x0, y0), want) << r << ", " << c;
      EXPECT_EQ(px(im, x1, y0), want) << r << ", " << c;
      EXPECT_EQ(px(im, x0, y1), want) << r << ", " << c;
      EXPECT_EQ(px(im, x1, y1), want) << r << ", " << c;
      EXPECT_EQ(px(im, L.tile_x(c) + tile / 2, L.tile_y(r) + tile / 2), grey);
      // Green frames are solid; red ones are dashed: count the top edge.
      int on = 0;
      for (int x = x0; x <= x1; ++x) on += px(im, x, y0) == want;
      if (want_green[r][c - 1]) {
        EXPECT_EQ(on, x1 - x0 + 1);
      } else {
        EXPECT_LT(on, x1 - x0 + 1);
        EXPECT_GT(on, (x1 - x0 + 1) / 2);
      }
      // Text (labels) under the tile: dark pixels in the text band.
      int dark = 0;
      for (int y = y1 + 1; y < y1 + 1 + L.text_lines * L.line_h; ++y)
        for (int x = x0; x <= x1; ++x) dark += px(im, x, y).r < 60;
      EXPECT_GT(dark, 20) << r << ", " << c;
    }
  }
}

TEST(Retrieval, ContactSheetErrors) {
  std::vector<RetrievalRow> rows(2);
  Image img(10, 10, 3);
  rows[0].query = {img, {0}, 0};
  rows[0].retrieved = {{img, {0}, 1}};
  rows[1].query = {img, {0}, 0};
  EXPECT_ERROR_WITH(retrieval_sheet(rows, {"a"}), "row 1");  // ragged rows
  rows[1].retrieved = {{img, {5}, 1}};
  EXPECT_ERROR_WITH(retrieval_sheet(rows, {"a"}), "lesion label 5");  // unknown label
  EXPECT_THROW(retrieval_sheet({}, {"a"}), Error);
  EXPECT_THROW(retrieval_sheet_layout(1, 1, 8), Error);
}

}  // namespace
}  // namespace skinmtl
