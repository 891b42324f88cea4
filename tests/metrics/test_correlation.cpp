// metrics/correlation.h and figures/correlation_heatmap.h: R_ij of Liao & Luo
// eq. 1 on a hand-made label set, the
// row behaviour the paper describes (no preference ~ 1/Q, one site ~ 1, rows
// summing to 1), unknown locations, the Manifest overload, errors, and the
// heatmap picture read back.
#include <gtest/gtest.h>

#include <cmath>

#include "figures/correlation_heatmap.h"
#include "io/draw.h"
#include "io/manifest.h"
#include "metrics/correlation.h"
#include "tests/temp_dir.h"

namespace skinmtl {
namespace {

TEST(Correlation, HandMadeLabelSet) {
  // P = 3 lesions, Q = 2 locations, 6 images:
  //   image: lesions  location
  //   0      {0}      0
  //   1      {0, 1}   0
  //   2      {0}      1
  //   3      {1}      1
  //   4      {1, 1}   1      (a repeated label counts once)
  //   5      {2}      -1     (unknown: left out)
  // N_0 = {0, 1, 2}: at 0 -> 2, at 1 -> 1: R_0 = (2/3, 1/3)
  // N_1 = {1, 3, 4}: at 0 -> 1, at 1 -> 2: R_1 = (1/3, 2/3)
  // N_2 = {} (image 5 has no location): R_2 = NaN.
  const auto m = lesion_location_matrix({{0}, {0, 1}, {0}, {1}, {1, 1}, {2}}, {0, 0, 1, 1, 1, -1},
                                        3, 2);
  EXPECT_EQ(m.num_lesions, 3);
  EXPECT_EQ(m.num_locations, 2);
  EXPECT_EQ(m.images, 5);
  EXPECT_EQ(m.unknown_location, 1);
  EXPECT_EQ(m.lesion_count, (std::vector<int64_t>{3, 3, 0}));
  EXPECT_EQ(m.joint, (std::vector<int64_t>{2, 1, 1, 2, 0, 0}));
  EXPECT_DOUBLE_EQ(m.at(0, 0), 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.at(0, 1), 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.at(1, 0), 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.at(1, 1), 2.0 / 3);
  EXPECT_TRUE(std::isnan(m.at(2, 0)));
  EXPECT_TRUE(std::isnan(m.at(2, 1)));
}

TEST(Correlation, RowsBehaveAsThePaperDescribes) {
  // Q = 23 locations like the paper's. Lesion 0 ("erythema") is spread evenly
  // over all sites (10 images each); lesion 1 ("alopecia") is at site 5
  // (scalp) in 95 of 100 images; lesion 2 at sites 0 and 1 half and half.
  const int Q = 23;
  std::vector<std::vector<int>> lesions;
  std::vector<int> loc;
  for (int j = 0; j < Q; ++j)
    for (int r = 0; r < 10; ++r) {
      lesions.push_back({0});
      loc.push_back(j);
    }
  for (int r = 0; r < 100; ++r) {
    lesions.push_back({1});
    loc.push_back(r < 95 ? 5 : 6 + r % 3);
  }
  for (int r = 0; r < 40; ++r) {
    lesions.push_back({2});
    loc.push_back(r % 2);
  }
  const auto m = lesion_location_matrix(lesions, loc, 3, Q);
  for (int j = 0; j < Q; ++j) EXPECT_NEAR(m.at(0, j), 1.0 / Q, 1e-12) << j;  // no predilection
  EXPECT_NEAR(m.at(1, 5), 0.95, 1e-12);                                       // strong site
  EXPECT_NEAR(m.at(2, 0), 0.5, 1e-12);
  EXPECT_NEAR(m.at(2, 1), 0.5, 1e-12);
  EXPECT_EQ(m.at(2, 2), 0.0);
  // Each row is a distribution over the sites: it sums to 1.
  for (int i = 0; i < 3; ++i) {
    double sum = 0;
    for (int j = 0; j < Q; ++j) sum += m.at(i, j);
    EXPECT_NEAR(sum, 1.0, 1e-12) << i;
  }
}

TEST(Correlation, FromAManifest) {
  test::TempDir dir;
  test::write_file(dir.path("m.csv"),
                   "image,lesions,location\n"
                   "a.jpg,mel,back\n"
                   "b.jpg,mel;nv,face\n"
                   "c.jpg,nv,back\n"
                   "d.jpg,nv,\n");
  const Manifest man = read_manifest(dir.path("m.csv"));
  // Classes sorted: lesions {mel, nv}, locations {back, face}.
  const auto m = lesion_location_matrix(man);
  EXPECT_EQ(m.unknown_location, 1);
  EXPECT_DOUBLE_EQ(m.at(0, 0), 0.5);  // mel: back 1 of 2
  EXPECT_DOUBLE_EQ(m.at(0, 1), 0.5);
  EXPECT_DOUBLE_EQ(m.at(1, 0), 0.5);  // nv: back 1 of 2 located (d.jpg unknown)
  EXPECT_DOUBLE_EQ(m.at(1, 1), 0.5);
}

TEST(Correlation, Errors) {
  EXPECT_THROW(lesion_location_matrix({{0}}, {0, 1}, 1, 2), Error);   // lengths
  EXPECT_THROW(lesion_location_matrix({{2}}, {0}, 2, 2), Error);      // lesion out of range
  EXPECT_THROW(lesion_location_matrix({{0}}, {2}, 2, 2), Error);      // location out of range
  EXPECT_THROW(lesion_location_matrix({{0}}, {-2}, 2, 2), Error);
  EXPECT_THROW(lesion_location_matrix({}, {}, 0, 2), Error);
  const auto m = lesion_location_matrix({{0}}, {0}, 1, 2);
  EXPECT_THROW(correlation_heatmap(m, {"a", "b"}, {"x", "y"}), Error);  // name counts
}

TEST(Correlation, HeatmapPicture) {
  // 2 lesions x 3 locations: lesion 0 all at location 2 (R = 1), lesion 1 even.
  const auto m = lesion_location_matrix({{0}, {0}, {1}, {1}, {1}}, {2, 2, 0, 1, 2}, 2, 3);
  HeatmapOptions opt;
  opt.cell = 40;
  test::TempDir dir;
  save_correlation_heatmap(dir.path("r.png"), m, {"alopecia", "erythema"}, {"face", "hands", "scalp"},
                           opt);
  const Image im = load_image(dir.path("r.png"));
  const Image direct = correlation_heatmap(m, {"alopecia", "erythema"}, {"face", "hands", "scalp"}, opt);
  EXPECT_EQ(im.width, direct.width);
  EXPECT_EQ(im.height, direct.height);
  EXPECT_GT(im.width, 3 * 40);
  EXPECT_GT(im.height, 2 * 40);
  // Find the cells by colour: R = 1 is viridis(1) (yellow), R = 0 viridis(0)
  // (dark purple), R = 1/3 viridis(1/3).
  auto count = [&](Rgb c) {
    int n = 0;
    for (int y = 0; y < im.height; ++y)
      for (int x = 0; x < im.width; ++x)
        n += im.at(y, x, 0) == c.r && im.at(y, x, 1) == c.g && im.at(y, x, 2) == c.b;
    return n;
  };
  // One yellow cell (39 x 39 minus the text in it), plus the top row of the colour bar.
  const int yellow = count(viridis(1.0));
  EXPECT_GT(yellow, 39 * 39 / 2);
  EXPECT_LT(yellow, 39 * 39 + 40);
  // Two dark cells (R = 0) and three at 1/3.
  EXPECT_GT(count(viridis(0.0)), 2 * 39 * 39 / 2);
  EXPECT_GT(count(viridis(1.0 / 3)), 3 * 39 * 39 / 2);
  // Labels: plenty of black text pixels.
  EXPECT_GT(count(kBlack), 300);
}

TEST(Correlation, TheColourScaleFitsTheData) {
  // Every R at most 1/3: by default the scale runs to 0.4 (the largest R
  // rounded up to a tenth), so the largest cells are not all dark.
  const auto m = lesion_location_matrix({{0}, {0}, {0}, {1}, {1}, {1}}, {0, 1, 2, 0, 1, 2}, 2, 3);
  const Image im = correlation_heatmap(m, {"a", "b"}, {"x", "y", "z"}, HeatmapOptions());
  auto count = [&](Rgb c) {
    int n = 0;
    for (int y = 0; y < im.height; ++y)
      for (int x = 0; x < im.width; ++x) n += im.at(y, x, 0) == c.r && im.at(y, x, 1) == c.g && im.at(y, x, 2) == c.b;
    return n;
  };
  EXPECT_GT(count(viridis((1.0 / 3) / 0.4)), 6 * 39 * 39 / 2);
  EXPECT_LT(count(viridis(1.0 / 3)), 6 * 39 * 39 / 2);  // not the fixed 0-1 scale
  HeatmapOptions fixed;
  fixed.vmax = 1;
  const Image one = correlation_heatmap(m, {"a", "b"}, {"x", "y", "z"}, fixed);
  int n = 0;
  const Rgb third = viridis(1.0 / 3);
  for (int y = 0; y < one.height; ++y)
    for (int x = 0; x < one.width; ++x) n += one.at(y, x, 0) == third.r && one.at(y, x, 1) == third.g && one.at(y, x, 2) == third.b;
  EXPECT_GT(n, 6 * 39 * 39 / 2);
}

}  // namespace
}  // namespace skinmtl
