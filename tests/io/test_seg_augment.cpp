// io/seg_augment: each operation on hand-worked pixels, the pair staying
// consistent (the mask moves with the image), Song's six versions equally
// likely and deterministic, and the loader's transforms' output sizes.
#include <map>

#include "io/seg_augment.h"
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

TEST(SegAugment, Vflip) {
  Image img(3, 2, 1);
  for (int i = 0; i < 6; ++i) img.data[i] = (uint8_t)i;  // rows {0,1} {2,3} {4,5}
  EXPECT_EQ(vflip(img).data, (std::vector<uint8_t>{4, 5, 2, 3, 0, 1}));
}

TEST(SegAugment, Brightness) {
  Image img(1, 3, 1);
  img.data = {100, 200, 101};
  EXPECT_EQ(adjust_brightness(img, 1.5).data, (std::vector<uint8_t>{150, 255, 152}));  // 151.5 -> 152
  EXPECT_EQ(adjust_brightness(img, 0.8).data, (std::vector<uint8_t>{80, 160, 81}));    // 80.8 -> 81
  EXPECT_THROW(adjust_brightness(img, -1), Error);
}

TEST(SegAugment, GaussianBlur) {
  // An impulse of 255 at the centre of 9 x 9, sigma 1 (radius 3): the kernel's
  // centre weight is 1 / (1 + 2 (e^-0.5 + e^-2 + e^-4.5)) = 0.39905, so the centre
  // becomes 255 * 0.39905^2 = 40.6 -> 41, its 4-neighbours 255 * 0.39905 *
  // 0.24203 = 24.6 -> 25, the diagonal ones 14.9 -> 15.
  Image img(9, 9, 1);
  img.at(4, 4, 0) = 255;
  const Image b = gaussian_blur(img, 1.0);
  EXPECT_EQ(b.at(4, 4, 0), 41);
  EXPECT_EQ(b.at(4, 5, 0), 25);
  EXPECT_EQ(b.at(3, 4, 0), 25);
  EXPECT_EQ(b.at(3, 3, 0), 15);
  EXPECT_EQ(b.at(4, 0, 0), 0);  // 4 px away: beyond the radius
  // A constant image stays constant (normalised kernel, replicated edges).
  Image c(5, 6, 3);
  for (uint8_t& v : c.data) v = 77;
  EXPECT_EQ(gaussian_blur(c, 1.7).data, c.data);
  EXPECT_THROW(gaussian_blur(c, 0), Error);
}

TEST(SegAugment, AffineWarp) {
  Rng rng(3);
  const Image img = test::random_image(6, 6, 3, rng);
  // Identity: every output centre lands on its own source centre.
  EXPECT_EQ(affine_warp(img, AffineParams{}).data, img.data);
  // A shift of one pixel right: out(y, x) = in(y, x - 1), column 0 from outside (0).
  AffineParams shift;
  shift.shift_x = 1.0 / 6;
  const Image s = affine_warp(img, shift);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x)
      for (int c = 0; c < 3; ++c) EXPECT_EQ(s.at(y, x, c), x == 0 ? 0 : img.at(y, x - 1, c));
  // 90 degrees on a square: out(y, x) = in(W - 1 - x, y).
  AffineParams rot;
  rot.angle_degrees = 90;
  const Image r = affine_warp(img, rot);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 6; ++x) EXPECT_EQ(r.at(y, x, 0), img.at(5 - x, y, 0)) << y << "," << x;
  // Scale 2 about the centre: the mask block rows/cols 3-4 of 8 x 8 becomes 2-5
  // (output 2 samples source 2.75: 0.75 * 0.75 * 255 = 143 >= 128; output 1
  // samples 2.25: below).
  AffineParams zoom;
  zoom.scale = 2;
  EXPECT_EQ(affine_warp(rect_mask(8, 8, 3, 5, 3, 5), zoom, true).data, rect_mask(8, 8, 2, 6, 2, 6).data);
  EXPECT_THROW(affine_warp(img, zoom, /*is_mask=*/true), Error);  // 3 channels
}

TEST(SegAugment, ResizeMaskNearestAndResizePair) {
  Image m(2, 2, 1);
  m.data = {0, 255, 255, 0};
  EXPECT_EQ(resize_mask_nearest(m, 4, 4).data,
            (std::vector<uint8_t>{0, 0, 255, 255, 0, 0, 255, 255, 255, 255, 0, 0, 255, 255, 0, 0}));
  Image big(4, 4, 1);
  for (int i = 0; i < 16; ++i) big.data[i] = (uint8_t)i;
  // Shrinking by 2: destination d takes source floor((d + 0.5) * 2) = 1, 3.
  EXPECT_EQ(resize_mask_nearest(big, 2, 2).data, (std::vector<uint8_t>{5, 7, 13, 15}));

  Rng rng(1);
  Image img = test::random_image(10, 14, 3, rng);
  const Image img0 = img;
  Image mask = rect_mask(10, 14, 3, 7, 2, 9);
  resize_pair(img, mask, 5, 7);
  EXPECT_EQ(img.data, resize(img0, 5, 7).data);
  EXPECT_EQ(mask.data, resize_mask_nearest(rect_mask(10, 14, 3, 7, 2, 9), 5, 7).data);
  for (uint8_t v : mask.data) EXPECT_TRUE(v == 0 || v == 255);
  Image other(3, 3, 1);
  EXPECT_ERROR_WITH(resize_pair(img, other, 4, 4), "resize_pair", "5x7x3 and 3x3x1");
}

TEST(SegAugment, RandomFlipsMoveTheMaskWithTheImage) {
  int seen[4] = {0, 0, 0, 0};  // none, h, v, both
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Image img(4, 6, 3), mask = rect_mask(4, 6, 0, 1, 0, 2);  // top-left
    for (int y = 0; y < 1; ++y)
      for (int x = 0; x < 2; ++x) img.at(y, x, 0) = 255;  // the image marks the lesion too
    Rng rng(seed);
    random_flips(img, mask, rng);
    for (int p = 0; p < 24; ++p) ASSERT_EQ(img.data[p * 3], mask.data[p]) << seed;
    const bool h = mask.at(0, 5, 0) || mask.at(3, 5, 0), v = mask.at(3, 0, 0) || mask.at(3, 5, 0);
    ++seen[h + 2 * v];
  }
  for (int k = 0; k < 4; ++k) EXPECT_GT(seen[k], 30) << k;  // about 50 each
}

TEST(SegAugment, YangFullAugmentationMovesTheMaskWithTheImage) {
  // A bright square on black whose mask is the same square: after the flips
  // and the warp the mask must still cover the bright pixels, and the
  // brightness factor must not touch the mask.
  const int H = 48, W = 64;
  int warped = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Image img(H, W, 3), mask = rect_mask(H, W, 10, 26, 8, 30);
    for (int y = 10; y < 26; ++y)
      for (int x = 8; x < 30; ++x)
        for (int c = 0; c < 3; ++c) img.at(y, x, c) = 200;
    const Image img0 = img;
    Rng rng(seed);
    yang_augment(img, mask, rng, YangAugment::kFull);
    ASSERT_EQ(img.height, H);
    ASSERT_EQ(mask.width, W);
    int both = 0, either = 0;
    for (int p = 0; p < H * W; ++p) {
      ASSERT_TRUE(mask.data[p] == 0 || mask.data[p] == 255) << seed;
      const bool lit = img.data[p * 3] >= 80, in = mask.data[p] == 255;
      both += lit && in;
      either += lit || in;
    }
    EXPECT_GT((double)both / either, 0.85) << seed;  // only the edges' bilinear pixels may differ
    warped += img.data != img0.data;
  }
  EXPECT_EQ(warped, 40);  // a rotation of exactly 0 is a measure-zero draw
}

// What a run's fingerprint records of --augment full: every range, so that
// another build's ranges change it.
TEST(SegAugment, YangRangesInWordsNameEveryRange) {
  const YangAugmentOptions d;
  EXPECT_EQ(yang_augment_ranges(d), "rotation +-45, scale 1-1.2, shift 0.05, brightness 0.8-1.2");
  for (int field = 0; field < 6; ++field) {
    YangAugmentOptions o;
    double* v[6] = {&o.max_rotation_degrees, &o.min_scale, &o.max_scale, &o.max_shift, &o.min_brightness,
                    &o.max_brightness};
    *v[field] += 0.01;
    EXPECT_NE(yang_augment_ranges(o), yang_augment_ranges(d)) << field;
  }
}

TEST(SegAugment, YangAugmentationsDrawInOrder) {
  // With ranges that change nothing, full is flips: the flips are drawn
  // first, and an identity warp and a factor of 1 give back every byte.
  YangAugmentOptions still;
  still.max_rotation_degrees = 0;
  still.min_scale = still.max_scale = 1;
  still.max_shift = 0;
  still.min_brightness = still.max_brightness = 1;
  Rng source(3);
  const Image img0 = test::random_image(12, 15, 3, source), mask0 = rect_mask(12, 15, 2, 5, 3, 9);
  for (uint64_t seed = 0; seed < 8; ++seed) {
    Image a = img0, am = mask0, b = img0, bm = mask0, n = img0, nm = mask0;
    Rng ra(seed), rb(seed), rn(seed);
    yang_augment(a, am, ra, YangAugment::kFull, still);
    yang_augment(b, bm, rb, YangAugment::kFlips);
    yang_augment(n, nm, rn, YangAugment::kNone);
    EXPECT_EQ(a.data, b.data) << seed;
    EXPECT_EQ(am.data, bm.data) << seed;
    EXPECT_EQ(n.data, img0.data);  // none changes nothing
    EXPECT_EQ(nm.data, mask0.data);
  }
  YangAugment parsed = YangAugment::kNone;
  EXPECT_TRUE(parse_yang_augment("full", &parsed));
  EXPECT_EQ(parsed, YangAugment::kFull);
  EXPECT_FALSE(parse_yang_augment("Full", &parsed));
  EXPECT_EQ(parsed, YangAugment::kFull);  // untouched by a failed parse
}

TEST(SegAugment, SongSixVersionsEquallyLikelyAndConsistent) {
  // The image's red channel is the mask, so after any geometric version the
  // two must still agree; photometric versions leave the mask alone.
  const Image mask0 = rect_mask(12, 16, 3, 9, 4, 13);
  Rng noise(9);
  Image img0 = test::random_image(12, 16, 3, noise);
  for (int p = 0; p < 12 * 16; ++p) img0.data[p * 3] = mask0.data[p];
  std::map<SongVersion, int> count;
  for (uint64_t seed = 0; seed < 600; ++seed) {
    Image img = img0, mask = mask0;
    Rng rng(seed);
    const SongVersion v = song_augment(img, mask, rng);
    ++count[v];
    ASSERT_EQ(img.str(), "12x16x3");
    ASSERT_EQ(mask.str(), "12x16x1");
    Rng again(seed);
    Image img2 = img0, mask2 = mask0;
    EXPECT_EQ(song_augment(img2, mask2, again), v);
    EXPECT_EQ(img2.data, img.data) << "not deterministic: " << song_version_name(v);
    switch (v) {
      case SongVersion::kOriginal:
        EXPECT_EQ(img.data, img0.data);
        EXPECT_EQ(mask.data, mask0.data);
        break;
      case SongVersion::kHFlip:
        EXPECT_EQ(mask.data, hflip(mask0).data);
        EXPECT_EQ(img.data, hflip(img0).data);
        break;
      case SongVersion::kVFlip:
        EXPECT_EQ(mask.data, vflip(mask0).data);
        EXPECT_EQ(img.data, vflip(img0).data);
        break;
      case SongVersion::kAffine: {
        // The red channel is the bilinear mask rounded, the mask the same value
        // thresholded: they agree except where the value is within 0.5 of 128.
        int disagree = 0;
        for (int p = 0; p < 12 * 16; ++p) {
          const int red = img.data[p * 3];
          if (red == 127 || red == 128) continue;
          disagree += (red >= 128) != (mask.data[p] == 255);
        }
        EXPECT_EQ(disagree, 0);
        break;
      }
      case SongVersion::kBrightness:
      case SongVersion::kBlur:
        EXPECT_EQ(mask.data, mask0.data);
        EXPECT_NE(img.data, img0.data);
        break;
    }
  }
  ASSERT_EQ(count.size(), 6u);
  for (const auto& [v, n] : count) {  // 100 expected; 5 standard deviations is +-46
    EXPECT_GT(n, 60) << song_version_name(v);
    EXPECT_LT(n, 140) << song_version_name(v);
  }
}

TEST(SegAugment, LoaderTransformsGiveTheirSize) {
  Rng rng(2);
  for (const SegTransform& t : {song_train_transform(20), song_test_transform(20),
                                yang_train_transform(9, 11), yang_train_transform(9, 11, YangAugment::kFull),
                                yang_test_transform(9, 11)}) {
    Image img = test::random_image(12, 15, 3, rng), mask = rect_mask(12, 15, 2, 5, 3, 9);
    t.apply(img, mask, rng);
    EXPECT_EQ(img.height, t.out_height) << t.name;
    EXPECT_EQ(img.width, t.out_width) << t.name;
    EXPECT_EQ(mask.height, t.out_height) << t.name;
    EXPECT_EQ(mask.channels, 1) << t.name;
  }
  EXPECT_EQ(song_train_transform(20).letterbox, 20);
  EXPECT_EQ(yang_test_transform(9, 11).letterbox, 0);
  // The test transform is the letterbox alone.
  Image img = test::random_image(12, 15, 3, rng), mask = rect_mask(12, 15, 2, 5, 3, 9);
  Image a = img, b = mask;
  song_test_transform(20).apply(img, mask, rng);
  letterbox_pair(a, b, 20);
  EXPECT_EQ(img.data, a.data);
  EXPECT_EQ(mask.data, b.data);
}

}  // namespace
}  // namespace skinmtl
