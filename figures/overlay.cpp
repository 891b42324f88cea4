#include "figures/overlay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "io/letterbox.h"

namespace skinmtl {

Image mask_contour(const Image& mask, int width) {
  SKINMTL_CHECK(mask.channels == 1, "mask_contour: the mask must have 1 channel, got " << mask.str());
  SKINMTL_CHECK(width >= 1, "mask_contour: width must be >= 1, got " << width);
  const int H = mask.height, W = mask.width;
  // Erode the lesion `width` times by the cross (a pixel stays only when its
  // 4 neighbours are lesion too; outside the image is background). What the
  // erosion removed is the contour.
  std::vector<uint8_t> in(mask.data.size()), next(mask.data.size());
  for (size_t i = 0; i < in.size(); ++i) in[i] = mask.data[i] >= kMaskThreshold;
  const std::vector<uint8_t> lesion = in;
  for (int step = 0; step < width; ++step) {
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        const size_t i = (size_t)y * W + x;
        next[i] = in[i] && y > 0 && y < H - 1 && x > 0 && x < W - 1 && in[i - W] && in[i + W] &&
                  in[i - 1] && in[i + 1];
      }
    std::swap(in, next);
  }
  Image out(H, W, 1);
  for (size_t i = 0; i < lesion.size(); ++i) out.data[i] = lesion[i] && !in[i] ? 255 : 0;
  return out;
}

std::string detseg_label(const std::string& name, double probability) {
  char buf[32];
  std::snprintf(buf, sizeof buf, " %.2f", probability);
  return name + buf;
}

namespace {

void paint_contour(Canvas& cv, const Image& mask, int width, Rgb c, const char* what) {
  SKINMTL_CHECK(mask.channels == 1 && mask.height == cv.height() && mask.width == cv.width(),
                "draw_detseg_overlay: the " << what << " mask is " << mask.str() << ", the image "
                                            << cv.height() << "x" << cv.width());
  const Image contour = mask_contour(mask, width);
  for (int y = 0; y < mask.height; ++y)
    for (int x = 0; x < mask.width; ++x)
      if (contour.at(y, x, 0)) cv.blend(x, y, c);
}

}  // namespace

Image draw_detseg_overlay(const Image& image, const Image* pred_mask, const Image* truth_mask,
                          const float* box, const std::string& label, const OverlayStyle& style) {
  SKINMTL_CHECK(!image.empty(), "draw_detseg_overlay: empty image");
  Canvas cv(image);
  const int side = std::min(image.height, image.width);
  const int line = style.line_width > 0 ? style.line_width : std::max(1, side / 256);
  const int scale = style.text_scale > 0 ? style.text_scale : std::max(1, side / 200);
  if (truth_mask) paint_contour(cv, *truth_mask, line, style.truth_color, "truth");
  if (pred_mask) paint_contour(cv, *pred_mask, line, style.pred_color, "predicted");

  // The box in whole pixels: the columns and rows it touches.
  int bx0 = 0, by0 = 0, bx1 = 0, by1 = 0;
  if (box) {
    for (int k = 0; k < 4; ++k) SKINMTL_CHECK(std::isfinite(box[k]), "draw_detseg_overlay: box value " << k << " is not finite");
    bx0 = (int)std::floor(box[0]), by0 = (int)std::floor(box[1]);
    bx1 = (int)std::ceil(box[2]), by1 = (int)std::ceil(box[3]);
    if (bx1 > bx0 && by1 > by0) cv.rect_outline(bx0, by0, bx1, by1, style.box_color, line);
  }

  if (!label.empty()) {
    // The tag: the text with a margin of `scale` pixels; capitals are 7 font
    // units high, descenders reach 9, so the tag is 9 units + 2 margins high.
    const int pad = scale, tw = text_width(label, scale) + 2 * pad, th = 9 * scale + 2 * pad;
    int tx = box ? std::max(0, bx0) : 0, ty = 0;
    if (box) ty = by0 - th >= 0 ? by0 - th : std::max(0, by0);  // above the box, else inside its top
    tx = std::max(0, std::min(tx, cv.width() - tw));             // keep it on the image when it fits
    cv.fill_rect(tx, ty, tx + tw, ty + th, style.box_color);
    cv.text(tx + pad, ty + pad, label, scale, text_color_on(style.box_color));
  }
  return cv.image();
}

}  // namespace skinmtl
