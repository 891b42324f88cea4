#include "io/letterbox.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace skinmtl {

int Letterbox::content_height() const { return std::max(1, (int)std::lround(src_h * scale)); }
int Letterbox::content_width() const { return std::max(1, (int)std::lround(src_w * scale)); }

Letterbox letterbox_geometry(int src_h, int src_w, int size) {
  SKINMTL_CHECK(src_h > 0 && src_w > 0 && size > 0,
                "letterbox: sizes must be positive, got " << src_h << "x" << src_w << " -> " << size);
  Letterbox lb;
  lb.size = size;
  lb.src_h = src_h;
  lb.src_w = src_w;
  lb.scale = (double)size / std::max(src_h, src_w);
  lb.pad_y = (size - lb.content_height()) / 2;
  lb.pad_x = (size - lb.content_width()) / 2;
  return lb;
}

namespace {

void check_source(const Image& image, const Letterbox& lb, const char* what) {
  SKINMTL_CHECK(image.height == lb.src_h && image.width == lb.src_w,
                "letterbox: the " << what << " is " << image.str() << ", the geometry is for "
                                  << lb.src_h << "x" << lb.src_w);
}

// `content` pasted at (pad_y, pad_x) of a zero size x size canvas.
Image pad_to_square(const Image& content, const Letterbox& lb) {
  Image out(lb.size, lb.size, content.channels);
  const size_t row = (size_t)content.width * content.channels;
  for (int y = 0; y < content.height; ++y)
    std::memcpy(&out.data[((size_t)(y + lb.pad_y) * lb.size + lb.pad_x) * content.channels],
                &content.data[(size_t)y * row], row);
  return out;
}

}  // namespace

Image binarize_mask(const Image& mask, int threshold) {
  SKINMTL_CHECK(mask.channels == 1, "mask: must have 1 channel, got " << mask.str());
  Image out = mask;
  for (uint8_t& v : out.data) v = v >= threshold ? 255 : 0;
  return out;
}

Image letterbox_image(const Image& image, const Letterbox& lb) {
  check_source(image, lb, "image");
  return pad_to_square(resize(image, lb.content_height(), lb.content_width()), lb);
}

Image letterbox_mask(const Image& mask, const Letterbox& lb) {
  check_source(mask, lb, "mask");
  SKINMTL_CHECK(mask.channels == 1, "letterbox: the mask must have 1 channel, got " << mask.str());
  return pad_to_square(binarize_mask(resize(mask, lb.content_height(), lb.content_width())), lb);
}

Letterbox letterbox_pair(Image& image, Image& mask, int size) {
  SKINMTL_CHECK(image.height == mask.height && image.width == mask.width,
                "letterbox: the image is " << image.str() << " but its mask is " << mask.str());
  const Letterbox lb = letterbox_geometry(image.height, image.width, size);
  image = letterbox_image(image, lb);
  mask = letterbox_mask(mask, lb);
  return lb;
}

Image unletterbox_mask(const Image& mask, const Letterbox& lb) {
  SKINMTL_CHECK(mask.channels == 1 && mask.height == lb.size && mask.width == lb.size,
                "unletterbox: the mask must be " << lb.size << "x" << lb.size << "x1, got " << mask.str());
  const Image content = crop(mask, lb.pad_y, lb.pad_x, lb.content_height(), lb.content_width());
  return binarize_mask(resize(content, lb.src_h, lb.src_w));
}

Box box_to_letterbox(const Box& b, const Letterbox& lb) {
  const double sx = (double)lb.content_width() / lb.src_w, sy = (double)lb.content_height() / lb.src_h;
  return {b.x1 * sx + lb.pad_x, b.y1 * sy + lb.pad_y, b.x2 * sx + lb.pad_x, b.y2 * sy + lb.pad_y};
}

Box box_from_letterbox(const Box& b, const Letterbox& lb) {
  const double sx = (double)lb.src_w / lb.content_width(), sy = (double)lb.src_h / lb.content_height();
  return {(b.x1 - lb.pad_x) * sx, (b.y1 - lb.pad_y) * sy, (b.x2 - lb.pad_x) * sx, (b.y2 - lb.pad_y) * sy};
}

std::optional<Box> mask_box(const Image& mask, int threshold) {
  SKINMTL_CHECK(mask.channels == 1, "mask_box: the mask must have 1 channel, got " << mask.str());
  int x1 = mask.width, y1 = mask.height, x2 = -1, y2 = -1;  // x2, y2: last lesion column/row
  for (int y = 0; y < mask.height; ++y) {
    const uint8_t* row = &mask.data[(size_t)y * mask.width];
    for (int x = 0; x < mask.width; ++x)
      if (row[x] >= threshold) {
        x1 = std::min(x1, x);
        x2 = std::max(x2, x);
        y1 = std::min(y1, y);
        y2 = y;
      }
  }
  if (x2 < 0) return std::nullopt;
  return Box{(double)x1, (double)y1, (double)x2 + 1, (double)y2 + 1};
}

}  // namespace skinmtl
