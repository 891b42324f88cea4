// io/letterbox: the geometry on hand-worked sizes, the padded image and the
// thresholded mask pixel by pixel, boxes mapped both ways (agreeing with the
// box of the letterboxed mask), unletterbox inverting letterbox, mask_box.
#include "io/letterbox.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// A 1-channel mask of h x w, 255 inside rows [y0, y1) x columns [x0, x1).
Image rect_mask(int h, int w, int y0, int y1, int x0, int x1) {
  Image m(h, w, 1);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) m.at(y, x, 0) = 255;
  return m;
}

void expect_box(const std::optional<Box>& b, double x1, double y1, double x2, double y2) {
  ASSERT_TRUE(b.has_value());
  EXPECT_DOUBLE_EQ(b->x1, x1);
  EXPECT_DOUBLE_EQ(b->y1, y1);
  EXPECT_DOUBLE_EQ(b->x2, x2);
  EXPECT_DOUBLE_EQ(b->y2, y2);
}

TEST(Letterbox, Geometry) {
  // ISIC 2017 copies, 192 high x 256 wide, to 512: scale 2, content 384 x 512, centred vertically.
  Letterbox lb = letterbox_geometry(192, 256, 512);
  EXPECT_DOUBLE_EQ(lb.scale, 2.0);
  EXPECT_EQ(lb.content_height(), 384);
  EXPECT_EQ(lb.content_width(), 512);
  EXPECT_EQ(lb.pad_y, 64);
  EXPECT_EQ(lb.pad_x, 0);
  EXPECT_EQ(lb.src_h, 192);
  EXPECT_EQ(lb.src_w, 256);
  // 3 x 5 to 8: scale 1.6, content round(4.8) = 5 x 8, pad (8 - 5) / 2 = 1 on top (2 below).
  lb = letterbox_geometry(3, 5, 8);
  EXPECT_DOUBLE_EQ(lb.scale, 1.6);
  EXPECT_EQ(lb.content_height(), 5);
  EXPECT_EQ(lb.pad_y, 1);
  EXPECT_EQ(lb.pad_x, 0);
  // Tall: 7 x 2 to 4: content 4 x round(1.14) = 1, pad_x (4 - 1) / 2 = 1.
  lb = letterbox_geometry(7, 2, 4);
  EXPECT_EQ(lb.content_height(), 4);
  EXPECT_EQ(lb.content_width(), 1);
  EXPECT_EQ(lb.pad_x, 1);
  EXPECT_EQ(lb.pad_y, 0);
  EXPECT_THROW(letterbox_geometry(0, 5, 8), Error);
  EXPECT_THROW(letterbox_geometry(3, 5, 0), Error);
}

TEST(Letterbox, ImageIsPaddedWithZerosAndMaskThresholded) {
  Image img(2, 4, 3);
  for (uint8_t& v : img.data) v = 200;
  Image mask = rect_mask(2, 4, 0, 2, 0, 2);  // the left half
  const Letterbox lb = letterbox_pair(img, mask, 8);  // scale 2: content 4 x 8 at rows 2-5
  ASSERT_EQ(img.str(), "8x8x3");
  ASSERT_EQ(mask.str(), "8x8x1");
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) {
      const bool content = y >= 2 && y < 6;
      EXPECT_EQ(img.at(y, x, 1), content ? 200 : 0) << y << "," << x;
      // Column 3 samples the source at 1.25: 0.75 * 255 = 191 >= 128, lesion;
      // column 4 at 1.75: 64, background.
      EXPECT_EQ(mask.at(y, x, 0), content && x < 4 ? 255 : 0) << y << "," << x;
    }
  // The source box mapped into the letterbox is the letterboxed mask's box.
  expect_box(mask_box(mask), 0, 2, 4, 6);
  const Box mapped = box_to_letterbox(*mask_box(rect_mask(2, 4, 0, 2, 0, 2)), lb);
  expect_box(mapped, 0, 2, 4, 6);

  Image wrong(3, 4, 1);
  Image img2(2, 4, 3);
  EXPECT_ERROR_WITH(letterbox_pair(img2, wrong, 8), "image is 2x4x3 but its mask is 3x4x1");
  EXPECT_THROW(letterbox_mask(Image(2, 4, 3), lb), Error);  // 3 channels
}

TEST(Letterbox, BoxesMapBothWays) {
  const Letterbox lb = letterbox_geometry(7, 12, 9);  // content round(5.25) = 5 x 9, pad_y 2
  ASSERT_EQ(lb.content_height(), 5);
  ASSERT_EQ(lb.pad_y, 2);
  const Box b{1.0, 2.0, 7.5, 6.0};
  const Box to = box_to_letterbox(b, lb);
  // x: * 9/12, y: * 5/7 + 2 (the per-axis factors the pixels were resized with).
  EXPECT_DOUBLE_EQ(to.x1, 0.75);
  EXPECT_DOUBLE_EQ(to.y1, 2.0 * 5 / 7 + 2);
  EXPECT_DOUBLE_EQ(to.x2, 7.5 * 0.75);
  EXPECT_DOUBLE_EQ(to.y2, 6.0 * 5 / 7 + 2);
  const Box back = box_from_letterbox(to, lb);
  EXPECT_NEAR(back.x1, b.x1, 1e-12);
  EXPECT_NEAR(back.y1, b.y1, 1e-12);
  EXPECT_NEAR(back.x2, b.x2, 1e-12);
  EXPECT_NEAR(back.y2, b.y2, 1e-12);
}

TEST(Letterbox, UnletterboxInvertsAnAlignedMask) {
  // 6 x 10 to 5 (half size, content 3 x 5 at row 1): rows 2-3, cols 4-7 become
  // row 2, cols 2-3; back at twice the size, bilinear + threshold gives rows 2-3,
  // cols 4-7 again (the corner (2, 4) reads 0.75 * 0.75 * 255 = 143).
  const Image m = rect_mask(6, 10, 2, 4, 4, 8);
  const Letterbox lb = letterbox_geometry(6, 10, 5);
  const Image small = letterbox_mask(m, lb);
  EXPECT_EQ(small.data, rect_mask(5, 5, 2, 3, 2, 4).data);
  const Image back = unletterbox_mask(small, lb);
  ASSERT_EQ(back.str(), "6x10x1");
  EXPECT_EQ(back.data, m.data);
  // A probability map (0-255) reads as lesion where >= 128.
  Image prob(5, 5, 1);
  for (uint8_t& v : prob.data) v = 127;
  for (uint8_t v : unletterbox_mask(prob, lb).data) EXPECT_EQ(v, 0);
  for (uint8_t& v : prob.data) v = 128;
  for (uint8_t v : unletterbox_mask(prob, lb).data) EXPECT_EQ(v, 255);
  EXPECT_ERROR_WITH(unletterbox_mask(Image(6, 10, 1), lb), "must be 5x5x1");
}

TEST(Letterbox, MaskBox) {
  Image m(5, 7, 1);
  EXPECT_FALSE(mask_box(m).has_value());  // empty
  m.at(1, 2, 0) = 255;
  m.at(3, 5, 0) = 128;
  m.at(4, 6, 0) = 127;  // below the threshold
  expect_box(mask_box(m), 2, 1, 6, 4);   // half-open: last column 5 -> x2 = 6
  expect_box(mask_box(m, 100), 2, 1, 7, 5);
  expect_box(mask_box(rect_mask(5, 7, 0, 5, 0, 7)), 0, 0, 7, 5);
  EXPECT_THROW(mask_box(Image(2, 2, 3)), Error);
  const Image b = binarize_mask(m);
  EXPECT_EQ(b.at(3, 5, 0), 255);
  EXPECT_EQ(b.at(4, 6, 0), 0);
}

}  // namespace
}  // namespace skinmtl
