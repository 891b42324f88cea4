// io/augment: the training transform (scale jitter, random crop, flip) and the
// test transforms (centre crop, 10 crops).
#include "io/augment.h"
#include "tests/io_test_util.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::random_image;

// Pixel (y, x) holds (y, x, 7): a crop's first pixel tells where it came from.
Image coordinate_image(int h, int w) {
  Image img(h, w, 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(y, x, 0) = (uint8_t)y;
      img.at(y, x, 1) = (uint8_t)x;
      img.at(y, x, 2) = 7;
    }
  return img;
}

TEST(TenCrop, CornersCentreAndTheirMirrors) {
  // Shorter side 8 on an 8x10 image: no resampling, so positions are exact.
  const Image img = coordinate_image(8, 10);
  const std::vector<Image> crops = ten_crop(img, 8, 5);
  ASSERT_EQ(crops.size(), 10u);
  const int tops[5] = {0, 0, 3, 3, 1}, lefts[5] = {0, 5, 0, 5, 2};  // TL TR BL BR centre
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(crops[k].str(), "5x5x3");
    EXPECT_EQ(crops[k].at(0, 0, 0), tops[k]) << "crop " << k;
    EXPECT_EQ(crops[k].at(0, 0, 1), lefts[k]) << "crop " << k;
    EXPECT_EQ(crops[k].data, crop(img, tops[k], lefts[k], 5, 5).data) << "crop " << k;
    EXPECT_EQ(crops[k + 5].data, hflip(crops[k]).data) << "crop " << k + 5;
    EXPECT_EQ(crops[k + 5].at(0, 0, 1), lefts[k] + 4) << "crop " << k + 5;  // mirrored
  }
  // The bottom-right crop ends at the image's last pixel.
  EXPECT_EQ(crops[3].at(4, 4, 0), 7);
  EXPECT_EQ(crops[3].at(4, 4, 1), 9);
}

TEST(TenCrop, ResizesFirst) {
  Rng rng(1);
  const Image img = random_image(30, 40, 3, rng);
  const std::vector<Image> crops = ten_crop(img, 16, 12);  // resized to 16 x 21
  const Image r = resize_shorter_side(img, 16);
  ASSERT_EQ(r.width, 21);
  EXPECT_EQ(crops[1].data, crop(r, 0, 9, 12, 12).data);
  EXPECT_EQ(crops[2].data, crop(r, 4, 0, 12, 12).data);
  EXPECT_EQ(crops[4].data, center_crop(r, 12, 12).data);
  EXPECT_THROW(ten_crop(img, 16, 17), Error);
}

TEST(TestTransform, ResizeShorterSideThenCentreCrop) {
  Rng rng(2);
  const Image img = random_image(60, 45, 3, rng);
  EXPECT_EQ(test_center_crop(img, 32, 28).data,
            center_crop(resize_shorter_side(img, 32), 28, 28).data);
  const Transform t = test_transform(32, 28);
  EXPECT_EQ(t.views, 1);
  EXPECT_EQ(t.out_height, 28);
  EXPECT_EQ(t.apply(img, rng)[0].data, test_center_crop(img, 32, 28).data);
  EXPECT_EQ(ten_crop_transform(32, 28).views, 10);
}

TEST(TrainAugment, FollowsItsDocumentedDraws) {
  Rng rng(3);
  const Image img = random_image(24, 32, 3, rng);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng a(seed), b(seed);
    const Image out = train_augment(img, a, 20, 40, 16);
    // Replay the draws: shorter side, top, left, flip.
    const int s = (int)b.randint(20, 41);
    int fh, fw;
    shorter_side_size(24, 32, s, &fh, &fw);
    const int y = (int)b.randint(0, fh - 16 + 1), x = (int)b.randint(0, fw - 16 + 1);
    Image want = crop(resize(img, fh, fw), y, x, 16, 16);
    if (b.uniform() < 0.5) want = hflip(want);
    EXPECT_EQ(out.data, want.data) << "seed " << seed;
  }
}

TEST(TrainAugment, ScaleJitterStaysInRangeAndTheCropIs224) {
  // The paper's setting on a HAM10000-sized image (224x224) and an ISIC 2017
  // copy (192x256): the shorter side covers [256, 480], every output is 224x224.
  Rng pix(4);
  const Image square = random_image(224, 224, 3, pix), wide = random_image(192, 256, 3, pix);
  int lo = 1000, hi = 0, flips = 0;
  const int n = 100;
  for (int i = 0; i < n; ++i) {
    Rng rng(1000 + i), replay(1000 + i);
    const Image out = train_augment(i % 2 ? square : wide, rng);
    EXPECT_EQ(out.str(), "224x224x3");
    const int s = (int)replay.randint(256, 481);
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  EXPECT_GE(lo, 256);
  EXPECT_LE(hi, 480);
  EXPECT_LT(lo, 290);  // both ends of the range are reached
  EXPECT_GT(hi, 446);
  // Flips: about half (small images, many draws).
  const Image small = coordinate_image(6, 6);
  for (int i = 0; i < 400; ++i) {
    Rng rng(i);
    const Image out = train_augment(small, rng, 6, 6, 6);  // no scale, no crop: only the flip
    if (out.data != small.data) {
      EXPECT_EQ(out.data, hflip(small).data);
      ++flips;
    }
  }
  EXPECT_GT(flips, 150);
  EXPECT_LT(flips, 250);
  Rng rng(5);
  EXPECT_EQ(train_augment(small, rng, 6, 6, 6, /*flip=*/false).data, small.data);
}

TEST(TrainAugment, BadSizesAreErrors) {
  Rng rng(6);
  const Image img = random_image(10, 10, 3, rng);
  EXPECT_THROW(train_augment(img, rng, 20, 10, 8), Error);   // min > max
  EXPECT_THROW(train_augment(img, rng, 10, 20, 12), Error);  // crop > min
  EXPECT_THROW(train_augment(Image(), rng), Error);
  const Transform t = train_transform(10, 20, 8);
  EXPECT_EQ(t.out_height, 8);
  EXPECT_EQ(t.views, 1);
  EXPECT_EQ(t.apply(img, rng)[0].str(), "8x8x3");
}

}  // namespace
}  // namespace skinmtl
