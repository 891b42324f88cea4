// figures/overlay: contours on the masks' boundary pixels (not inside, not
// outside), both colours, the box's edges, the label's tag, grey input, and
// errors.
#include "figures/overlay.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

Image rect_mask(int h, int w, int y0, int y1, int x0, int x1) {
  Image m(h, w, 1);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) m.at(y, x, 0) = 255;
  return m;
}

Image grey_image(int h, int w, int channels) {
  Image img(h, w, channels);
  for (uint8_t& v : img.data) v = 128;
  return img;
}

Rgb px(const Image& img, int y, int x) { return {img.at(y, x, 0), img.at(y, x, 1), img.at(y, x, 2)}; }

TEST(Overlay, MaskContourIsTheBoundary) {
  const Image c = mask_contour(rect_mask(6, 7, 1, 5, 2, 6));  // rows 1-4, cols 2-5
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 7; ++x) {
      const bool inside = y >= 1 && y <= 4 && x >= 2 && x <= 5;
      const bool edge = inside && (y == 1 || y == 4 || x == 2 || x == 5);
      EXPECT_EQ(c.at(y, x, 0), edge ? 255 : 0) << y << "," << x;
    }
  // Width 2: two rings; (3, 3) and (3, 4), 3 steps from the background, are not on it.
  const Image c2 = mask_contour(rect_mask(7, 8, 1, 6, 1, 7), 2);  // rows 1-5, cols 1-6
  EXPECT_EQ(c2.at(2, 2, 0), 255);  // second ring
  EXPECT_EQ(c2.at(3, 3, 0), 0);    // interior (3 steps from the background)
  EXPECT_EQ(c2.at(3, 4, 0), 0);
  EXPECT_EQ(c2.at(0, 0, 0), 0);    // background
  // A lesion touching the image's edge has its contour there.
  EXPECT_EQ(mask_contour(rect_mask(3, 3, 0, 3, 0, 3)).at(0, 1, 0), 255);
  EXPECT_EQ(mask_contour(rect_mask(3, 3, 0, 3, 0, 3)).at(1, 1, 0), 0);
}

TEST(Overlay, ContoursBoxAndLabel) {
  const Image img = grey_image(40, 120, 3);
  const Image pred = rect_mask(40, 120, 15, 30, 10, 30);   // rows 15-29, cols 10-29
  const Image truth = rect_mask(40, 120, 12, 33, 8, 35);   // rows 12-32, cols 8-34
  const float box[4] = {10, 15, 30, 30};                  // the prediction's box
  OverlayStyle st;
  st.line_width = 1;
  st.text_scale = 1;
  const Image out = draw_detseg_overlay(img, &pred, &truth, nullptr, "", st);
  ASSERT_EQ(out.str(), "40x120x3");
  const Rgb grey{128, 128, 128};
  // The predicted contour on its boundary pixels, not inside, not outside.
  EXPECT_EQ(px(out, 15, 20), st.pred_color);  // top edge
  EXPECT_EQ(px(out, 29, 20), st.pred_color);  // bottom edge
  EXPECT_EQ(px(out, 22, 10), st.pred_color);  // left edge
  EXPECT_EQ(px(out, 22, 29), st.pred_color);  // right edge
  EXPECT_EQ(px(out, 16, 20), grey);           // just inside
  EXPECT_EQ(px(out, 22, 20), grey);           // the middle
  EXPECT_EQ(px(out, 14, 20), grey);           // just outside (inside the truth)
  // The ground truth's contour, in its colour.
  EXPECT_EQ(px(out, 12, 20), st.truth_color);
  EXPECT_EQ(px(out, 32, 20), st.truth_color);
  EXPECT_EQ(px(out, 22, 8), st.truth_color);
  EXPECT_EQ(px(out, 22, 34), st.truth_color);
  EXPECT_EQ(px(out, 13, 20), grey);
  EXPECT_EQ(px(out, 11, 20), grey);
  EXPECT_EQ(px(out, 22, 35), grey);
  // Exactly the two contours changed: 2 * (15 + 20) - 4 + 2 * (21 + 27) - 4 pixels.
  int changed = 0;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 120; ++x) changed += px(out, y, x) != grey;
  EXPECT_EQ(changed, 66 + 92);

  // The box: its outer rows and columns (15, 29; 10, 29) in the box colour.
  const Image boxed = draw_detseg_overlay(img, nullptr, nullptr, box, "", st);
  EXPECT_EQ(px(boxed, 15, 20), st.box_color);
  EXPECT_EQ(px(boxed, 29, 20), st.box_color);
  EXPECT_EQ(px(boxed, 22, 10), st.box_color);
  EXPECT_EQ(px(boxed, 22, 29), st.box_color);
  EXPECT_EQ(px(boxed, 22, 20), grey);
  EXPECT_EQ(px(boxed, 30, 20), grey);
  EXPECT_EQ(px(boxed, 22, 30), grey);

  // The label: a tag of 9 + 2 = 11 rows just above the box (rows 4-14),
  // from column 10 (it fits: 75 of 120 columns), dark text on the yellow tag.
  const std::string label = detseg_label("melanoma", 0.934);
  EXPECT_EQ(label, "melanoma 0.93");
  const Image tagged = draw_detseg_overlay(img, nullptr, nullptr, box, label, st);
  const int tw = text_width(label, 1) + 2;
  int tag = 0, ink = 0;
  for (int y = 4; y < 15; ++y)
    for (int x = 10; x < 10 + tw; ++x) {
      tag += px(tagged, y, x) == st.box_color;
      ink += px(tagged, y, x) == text_color_on(st.box_color);
    }
  EXPECT_EQ(tag + ink, 11 * tw);  // the whole tag is drawn
  EXPECT_GT(ink, 20);             // with text in it
  EXPECT_EQ(px(tagged, 3, 12), grey);  // nothing above the tag
  EXPECT_EQ(px(tagged, 4, 9), grey);   // nor left of it
}

TEST(Overlay, GreyImageTagAtTheTopAndErrors) {
  const Image img = grey_image(30, 60, 1);
  // A box at the top edge: the tag goes inside its top; no box: top-left.
  const float box[4] = {5, 0, 50, 20};
  OverlayStyle st;
  const Image out = draw_detseg_overlay(img, nullptr, nullptr, box, "x 0.50", st);
  EXPECT_EQ(out.channels, 3);
  EXPECT_EQ(px(out, 1, 6), st.box_color);  // default scale 1 (min side 30): tag at (5, 0)
  const Image corner = draw_detseg_overlay(img, nullptr, nullptr, nullptr, "x 0.50", st);
  EXPECT_EQ(px(corner, 0, 0), st.box_color);
  EXPECT_EQ(px(corner, 20, 40), (Rgb{128, 128, 128}));
  const Image wrong(29, 60, 1);
  EXPECT_ERROR_WITH(draw_detseg_overlay(img, &wrong, nullptr, nullptr, "", st), "predicted mask is 29x60x1");
  EXPECT_ERROR_WITH(draw_detseg_overlay(img, nullptr, &wrong, nullptr, "", st), "truth mask");
  // Empty masks and an empty box draw nothing.
  const Image empty(30, 60, 1);
  const float none[4] = {7, 7, 7, 7};
  EXPECT_EQ(draw_detseg_overlay(img, &empty, &empty, none, "", st).data, Canvas(img).image().data);
}

}  // namespace
}  // namespace skinmtl
