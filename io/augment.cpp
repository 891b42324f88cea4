#include "io/augment.h"

#include <sstream>

namespace skinmtl {

Image train_augment(const Image& image, Rng& rng, int min_short, int max_short, int crop_size,
                    bool flip) {
  SKINMTL_CHECK(0 < min_short && min_short <= max_short && crop_size > 0,
                "train_augment: need 0 < min_short <= max_short and crop > 0, got "
                    << min_short << ", " << max_short << ", " << crop_size);
  SKINMTL_CHECK(crop_size <= min_short,
                "train_augment: crop " << crop_size << " is larger than the shortest resize "
                                       << min_short);
  SKINMTL_CHECK(!image.empty(), "train_augment: empty image");
  const int shorter = (int)rng.randint(min_short, (int64_t)max_short + 1);
  int full_h, full_w;
  shorter_side_size(image.height, image.width, shorter, &full_h, &full_w);
  const int y = (int)rng.randint(0, full_h - crop_size + 1);
  const int x = (int)rng.randint(0, full_w - crop_size + 1);
  // Resize and crop in one pass: only the kept window is computed.
  Image out = resize_crop(image, full_h, full_w, y, x, crop_size, crop_size);
  if (flip && rng.uniform() < 0.5) out = hflip(out);
  return out;
}

Image test_center_crop(const Image& image, int shorter, int crop_size) {
  SKINMTL_CHECK(crop_size <= shorter,
                "test_center_crop: crop " << crop_size << " is larger than the resize " << shorter);
  int full_h, full_w;
  shorter_side_size(image.height, image.width, shorter, &full_h, &full_w);
  return resize_crop(image, full_h, full_w, (full_h - crop_size) / 2, (full_w - crop_size) / 2,
                     crop_size, crop_size);
}

std::vector<Image> ten_crop(const Image& image, int shorter, int c) {
  SKINMTL_CHECK(c <= shorter, "ten_crop: crop " << c << " is larger than the resize " << shorter);
  const Image r = resize_shorter_side(image, shorter);
  const int H = r.height, W = r.width;
  std::vector<Image> crops;
  crops.reserve(10);
  crops.push_back(crop(r, 0, 0, c, c));                   // top-left
  crops.push_back(crop(r, 0, W - c, c, c));               // top-right
  crops.push_back(crop(r, H - c, 0, c, c));               // bottom-left
  crops.push_back(crop(r, H - c, W - c, c, c));           // bottom-right
  crops.push_back(crop(r, (H - c) / 2, (W - c) / 2, c, c));  // centre
  for (int k = 0; k < 5; ++k) crops.push_back(hflip(crops[k]));
  return crops;
}

Transform train_transform(int min_short, int max_short, int crop_size, bool flip) {
  std::ostringstream name;
  name << "train(shorter side " << min_short << "-" << max_short << ", random crop " << crop_size
       << (flip ? ", random flip)" : ")");
  Transform t;
  t.name = name.str();
  t.out_height = t.out_width = crop_size;
  t.apply = [=](const Image& img, Rng& rng) {
    return std::vector<Image>{train_augment(img, rng, min_short, max_short, crop_size, flip)};
  };
  return t;
}

Transform test_transform(int shorter, int crop_size) {
  std::ostringstream name;
  name << "test(shorter side " << shorter << ", centre crop " << crop_size << ")";
  Transform t;
  t.name = name.str();
  t.out_height = t.out_width = crop_size;
  t.apply = [=](const Image& img, Rng&) {
    return std::vector<Image>{test_center_crop(img, shorter, crop_size)};
  };
  return t;
}

Transform ten_crop_transform(int shorter, int crop_size) {
  std::ostringstream name;
  name << "ten_crop(shorter side " << shorter << ", crops " << crop_size << ")";
  Transform t;
  t.name = name.str();
  t.out_height = t.out_width = crop_size;
  t.views = 10;
  t.apply = [=](const Image& img, Rng&) { return ten_crop(img, shorter, crop_size); };
  return t;
}

}  // namespace skinmtl
