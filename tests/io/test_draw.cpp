// io/draw: the canvas (rectangles, outlines, dashes, lines, alpha, images),
// text (width, fitting, wrapping), the viridis colormap and the colour bar,
// each checked by reading pixels back.
#include <gtest/gtest.h>

#include <cmath>

#include "io/draw.h"
#include "io/image.h"
#include "tests/temp_dir.h"

namespace skinmtl {
namespace {

// Pixels of colour c inside [x0, x1) x [y0, y1).
int count_color(const Canvas& cv, int x0, int y0, int x1, int y1, Rgb c) {
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) n += cv.pixel(x, y) == c;
  return n;
}

TEST(Draw, CanvasBackgroundAndFillRect) {
  Canvas cv(30, 20, Rgb{1, 2, 3});
  EXPECT_EQ(cv.width(), 30);
  EXPECT_EQ(cv.height(), 20);
  EXPECT_EQ(cv.image().channels, 3);
  EXPECT_EQ(cv.pixel(29, 19), (Rgb{1, 2, 3}));
  cv.fill_rect(5, 4, 10, 7, Rgb{200, 0, 0});  // [5, 10) x [4, 7): 15 pixels
  EXPECT_EQ(count_color(cv, 0, 0, 30, 20, Rgb{200, 0, 0}), 15);
  EXPECT_EQ(cv.pixel(5, 4), (Rgb{200, 0, 0}));
  EXPECT_EQ(cv.pixel(9, 6), (Rgb{200, 0, 0}));
  EXPECT_EQ(cv.pixel(10, 6), (Rgb{1, 2, 3}));  // half-open
  EXPECT_EQ(cv.pixel(9, 7), (Rgb{1, 2, 3}));
  // Clipped, not an error.
  cv.fill_rect(-5, -5, 2, 2, kBlack);
  EXPECT_EQ(count_color(cv, 0, 0, 30, 20, kBlack), 4);
  EXPECT_THROW(cv.pixel(30, 0), Error);
}

TEST(Draw, AlphaBlending) {
  Canvas cv(4, 1, Rgb{100, 200, 0});
  cv.blend(0, 0, Rgb{200, 0, 255}, 0.5);  // p + 0.5 (c - p)
  EXPECT_EQ(cv.pixel(0, 0), (Rgb{150, 100, 128}));  // 127.5 rounds up
  cv.blend(1, 0, Rgb{0, 0, 0}, 0.25);
  EXPECT_EQ(cv.pixel(1, 0), (Rgb{75, 150, 0}));
  cv.blend(2, 0, Rgb{9, 9, 9}, 0.0);  // no-op
  EXPECT_EQ(cv.pixel(2, 0), (Rgb{100, 200, 0}));
  cv.blend(3, 0, Rgb{9, 9, 9}, 7.0);  // clamped to 1: replaced
  EXPECT_EQ(cv.pixel(3, 0), (Rgb{9, 9, 9}));
}

TEST(Draw, RectOutlineIsInsideAndHollow) {
  Canvas cv(20, 20);
  const Rgb c{0, 0, 255};
  cv.rect_outline(2, 3, 12, 10, c, 2);  // 10 x 7 box, 2 px frame
  // Frame area = box - inner (6 x 3) = 70 - 18.
  EXPECT_EQ(count_color(cv, 0, 0, 20, 20, c), 70 - 18);
  EXPECT_EQ(cv.pixel(2, 3), c);
  EXPECT_EQ(cv.pixel(11, 9), c);
  EXPECT_EQ(cv.pixel(3, 4), c);
  EXPECT_EQ(cv.pixel(4, 5), kWhite);  // inside
  EXPECT_EQ(cv.pixel(12, 9), kWhite);  // outside
}

TEST(Draw, DashedOutlineHasCornersAndGaps) {
  Canvas cv(60, 40);
  const Rgb c{255, 0, 0};
  cv.dashed_rect_outline(0, 0, 60, 40, c, 1, 5, 3);
  // Every corner is drawn.
  EXPECT_EQ(cv.pixel(0, 0), c);
  EXPECT_EQ(cv.pixel(59, 0), c);
  EXPECT_EQ(cv.pixel(0, 39), c);
  EXPECT_EQ(cv.pixel(59, 39), c);
  // Along the top edge from the left corner: 5 on, 3 off, 5 on.
  for (int x = 0; x < 5; ++x) EXPECT_EQ(cv.pixel(x, 0), c) << x;
  for (int x = 5; x < 8; ++x) EXPECT_EQ(cv.pixel(x, 0), kWhite) << x;
  EXPECT_EQ(cv.pixel(8, 0), c);
  // Symmetric: the same from the right corner.
  for (int x = 52; x < 55; ++x) EXPECT_EQ(cv.pixel(x, 0), kWhite) << x;
  // Fewer pixels than a solid frame, but more than half of them.
  const int solid = 2 * 60 + 2 * 38, drawn = count_color(cv, 0, 0, 60, 40, c);
  EXPECT_LT(drawn, solid);
  EXPECT_GT(drawn, solid / 2);
  EXPECT_THROW(cv.dashed_rect_outline(0, 0, 10, 10, c, 1, 0, 3), Error);
}

TEST(Draw, AntiAliasedLine) {
  Canvas cv(40, 20);
  // A horizontal line along y = 10, 2 px wide: rows 9 and 10 (centres 9.5, 10.5)
  // are fully covered; rows 8 and 11 (distance 1.5) are not touched.
  cv.line(5, 10, 35, 10, kBlack, 2.0);
  EXPECT_EQ(cv.pixel(20, 9), kBlack);
  EXPECT_EQ(cv.pixel(20, 10), kBlack);
  EXPECT_EQ(cv.pixel(20, 8), kWhite);
  EXPECT_EQ(cv.pixel(20, 11), kWhite);
  // A 1-px line through pixel centres: full at its pixels, partial next to them.
  Canvas d(10, 10);
  d.line(0.5, 4.5, 9.5, 4.5, kBlack, 1.0);
  EXPECT_EQ(d.pixel(3, 4), kBlack);
  EXPECT_EQ(d.pixel(3, 3), kWhite);  // distance 1: coverage 0.5 + 0.5 - 1 = 0
  // A diagonal has grey (anti-aliased) pixels along its edges.
  Canvas e(20, 20);
  e.line(0, 0, 20, 20, kBlack, 1.5);
  int grey = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 20; ++x) {
      const Rgb p = e.pixel(x, y);
      grey += p.r > 0 && p.r < 255;
    }
  EXPECT_GT(grey, 10);
  EXPECT_NEAR(distance_to_segment(0, 5, 0, 0, 10, 0), 5.0, 1e-12);
  EXPECT_NEAR(distance_to_segment(13, 4, 0, 0, 10, 0), 5.0, 1e-12);  // past the end: to b
  EXPECT_NEAR(distance_to_segment(3, 4, 0, 0, 0, 0), 5.0, 1e-12);    // a point
}

TEST(Draw, CoverageMaskJoinsWithoutDoubleBlending) {
  // Two overlapping segments stroked into one mask and painted at once give
  // the same colour where they overlap as where they do not.
  Canvas cv(30, 10);
  CoverageMask mask(30, 10);
  const Rect all{0, 0, 30, 10};
  mask.stroke_segment(2, 5, 20, 5, 2.0, all);
  mask.stroke_segment(10, 5, 28, 5, 2.0, all);
  EXPECT_FLOAT_EQ(mask.at(15, 4), 1.0f);
  mask.paint(cv, Rgb{0, 128, 0}, all);
  EXPECT_EQ(cv.pixel(5, 4), cv.pixel(15, 4));
  EXPECT_EQ(cv.pixel(15, 4), (Rgb{0, 128, 0}));
  // Clipping.
  CoverageMask m2(30, 10);
  m2.stroke_segment(2, 5, 28, 5, 2.0, Rect{0, 0, 10, 10});
  EXPECT_FLOAT_EQ(m2.at(20, 4), 0.0f);
  Canvas small(5, 5);
  EXPECT_THROW(m2.paint(small, kBlack, all), Error);
}

TEST(Draw, TextWidthAndDrawing) {
  EXPECT_EQ(text_width("", 2), 0);
  const int w1 = text_width("Hello", 1);
  EXPECT_GT(w1, 20);
  EXPECT_EQ(text_width("Hello", 3), 3 * w1);  // integer scaling
  EXPECT_GT(text_width("Hello world", 1), w1);
  // Drawn text is dark pixels inside the expected box, none outside it.
  Canvas cv(120, 40);
  cv.text(10, 10, "Hello", 2, kBlack);
  int inside = 0, outside = 0;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 120; ++x) {
      if (cv.pixel(x, y) != kBlack) continue;
      const bool in = x >= 10 && x < 10 + text_width("Hello", 2) && y >= 10 && y < 10 + 9 * 2;
      (in ? inside : outside)++;
    }
  EXPECT_GT(inside, 40);
  EXPECT_EQ(outside, 0);
  // Upwards text: taller than wide.
  Canvas up(40, 120);
  up.text_up(10, 110, "Hello", 2, kBlack);
  int x0 = 40, x1 = -1, y0 = 120, y1 = -1;
  for (int y = 0; y < 120; ++y)
    for (int x = 0; x < 40; ++x)
      if (up.pixel(x, y) == kBlack) {
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  EXPECT_GT(y1 - y0, 2 * (x1 - x0));
  EXPECT_LE(y1, 110);
}

TEST(Draw, FitAndWrapText) {
  const int s = 1;
  EXPECT_EQ(fit_text("short", 1000, s), "short");
  const std::string cut = fit_text("a rather long lesion name", text_width("a rather lo", s), s);
  EXPECT_EQ(cut.substr(cut.size() - 3), "...");
  EXPECT_LE(text_width(cut, s), text_width("a rather lo", s));
  EXPECT_EQ(fit_text("abc", 1, s), "");

  const int w = text_width("erythematous", s);
  const auto lines = wrap_text("erythematous squamous plaque", w, s);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "erythematous");
  EXPECT_EQ(lines[1], "squamous");
  EXPECT_EQ(lines[2], "plaque");
  for (const auto& l : lines) EXPECT_LE(text_width(l, s), w);
  // Limited to two lines: the second ends in "...".
  const auto two = wrap_text("erythematous squamous plaque", w, s, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].substr(two[1].size() - 3), "...");
  EXPECT_LE(text_width(two[1], s), w);
  // A word longer than a line is cut.
  const auto cutw = wrap_text("hyperpigmentation", text_width("hyper", s), s);
  ASSERT_GE(cutw.size(), 3u);
  EXPECT_EQ(cutw[0], "hyper");
  std::string joined;
  for (const auto& l : cutw) joined += l;
  EXPECT_EQ(joined, "hyperpigmentation");
  EXPECT_TRUE(wrap_text("", 50, s).empty());
  EXPECT_EQ(wrap_text("two  spaces", 1000, s), std::vector<std::string>{"two spaces"});
}

TEST(Draw, ViridisTable) {
  const auto& t = viridis_table();
  // Matplotlib's viridis at 0, 0.5 and 1: #440154, #21918c, #fde725.
  EXPECT_EQ(t[0], (Rgb{68, 1, 84}));
  EXPECT_EQ(t[128], (Rgb{33, 145, 140}));
  EXPECT_EQ(t[255], (Rgb{253, 231, 37}));
  EXPECT_EQ(viridis(0.0), t[0]);
  EXPECT_EQ(viridis(1.0), t[255]);
  EXPECT_EQ(viridis(-3.0), t[0]);  // clamped
  EXPECT_EQ(viridis(7.0), t[255]);
  EXPECT_EQ(viridis(NAN), (Rgb{128, 128, 128}));
  // An entry between control points, against matplotlib's value at index 243
  // (0.8762, 0.8911, 0.0953 -> 223, 227, 24): within 2 levels.
  EXPECT_NEAR(t[243].r, 223, 2);
  EXPECT_NEAR(t[243].g, 227, 2);
  EXPECT_NEAR(t[243].b, 24, 2);
  // Perceptual ordering: luminance never falls and rises from dark to light.
  for (int i = 1; i < 256; ++i) EXPECT_GE(luminance(t[i]), luminance(t[i - 1]) - 1e-3) << i;
  EXPECT_LT(luminance(t[0]), 0.1);
  EXPECT_GT(luminance(t[255]), 0.8);
  EXPECT_EQ(text_color_on(t[0]), kWhite);
  EXPECT_EQ(text_color_on(t[255]), kBlack);
}

TEST(Draw, ColorBar) {
  Canvas cv(200, 220);
  const int right = draw_colorbar(cv, 10, 10, 20, 200, 0.0, 1.0, 2, "R");
  EXPECT_EQ(right - 10, colorbar_width(20, 200, 0.0, 1.0, 2, "R"));
  EXPECT_LT(right, 200);
  // Inside the frame: the top row is viridis(1), the bottom row viridis(0),
  // and colours darken monotonically downwards.
  EXPECT_EQ(cv.pixel(20, 11), viridis(1.0 - 1.0 / 199));
  EXPECT_EQ(cv.pixel(20, 208), viridis(1.0 / 199));
  for (int y = 12; y < 208; ++y) EXPECT_GE(luminance(cv.pixel(20, y - 1)), luminance(cv.pixel(20, y)) - 1e-3);
  // Tick labels (dark text) to the right of the bar.
  int dark = 0;
  for (int y = 0; y < 220; ++y)
    for (int x = 34; x < right; ++x) dark += cv.pixel(x, y) == kBlack;
  EXPECT_GT(dark, 50);
  EXPECT_THROW(draw_colorbar(cv, 0, 0, 20, 100, 1.0, 1.0, 1), Error);
}

TEST(Draw, CanvasFromImageAndPaste) {
  Image grey(2, 3, 1);
  grey.at(1, 2, 0) = 77;
  Canvas cv(grey);
  EXPECT_EQ(cv.width(), 3);
  EXPECT_EQ(cv.height(), 2);
  EXPECT_EQ(cv.pixel(2, 1), (Rgb{77, 77, 77}));
  Canvas big(10, 10);
  Image rgb(2, 2, 3);
  rgb.at(0, 1, 0) = 255;  // pixel (y 0, x 1) red
  big.draw_image(rgb, 8, 9);  // partly off the canvas: clipped
  EXPECT_EQ(big.pixel(9, 9), (Rgb{255, 0, 0}));
  EXPECT_EQ(big.pixel(8, 9), kBlack);
  // Save and read back.
  test::TempDir dir;
  big.save_png(dir.path("c.png"));
  const Image back = load_image(dir.path("c.png"));
  EXPECT_EQ(back.width, 10);
  EXPECT_EQ(back.height, 10);
  EXPECT_EQ(back.at(9, 9, 0), 255);
  EXPECT_EQ(back.at(9, 9, 1), 0);
  EXPECT_THROW(big.save_png("/nonexistent_dir/x.png"), Error);
}

}  // namespace
}  // namespace skinmtl
