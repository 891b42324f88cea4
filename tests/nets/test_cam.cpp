// nets/cam.h and figures/cam_overlay.h: class activation maps against hand-computed weighted sums, the
// score identity s_c = mean(cam_c) + b_c, the peak location, normalisation,
// bilinear upsampling by hand, the overlay picture and errors.
#include <gtest/gtest.h>

#include <cmath>

#include "figures/cam_overlay.h"
#include "framework/ops.h"
#include "io/draw.h"
#include "nets/cam.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// f (N=2, K=3, h=2, w=3), values chosen by hand.
Tensor hand_features() {
  return Tensor::from_vector(
      std::vector<double>{
          // image 0
          1, 0, 0, 0, 0, 0,  // k = 0
          0, 1, 0, 0, 0, 0,  // k = 1
          0, 0, 1, 0, 0, 0,  // k = 2
          // image 1
          1, 2, 3, 4, 5, 6,    // k = 0
          0, 0, 1, 1, 0, 0,    // k = 1
          2, 0, 0, 0, 0, -1},  // k = 2
      {2, 3, 2, 3});
}
// fc weights (C=2, K=3).
Tensor hand_weights() { return Tensor::from_vector(std::vector<double>{1, 0, 0, 0.5, -2, 1}, {2, 3}); }

TEST(Cam, RawMapIsTheHandComputedWeightedSum) {
  // Image 1, class 1: cam = 0.5 f0 - 2 f1 + 1 f2.
  //   (0,0): 0.5*1 - 0 + 2 = 2.5      (0,1): 0.5*2 - 0 + 0 = 1
  //   (0,2): 0.5*3 - 2 + 0 = -0.5     (1,0): 0.5*4 - 2 + 0 = 0
  //   (1,1): 0.5*5 = 2.5              (1,2): 0.5*6 - 0 - 1 = 2
  const Tensor cam = class_activation_map(hand_features(), hand_weights(), 1, 1, false);
  EXPECT_EQ(cam.shape(), (Shape{2, 3}));
  EXPECT_EQ(cam.dtype(), DType::F32);
  EXPECT_EQ(cam.device(), Device::CPU);
  EXPECT_EQ(cam.to_vector(), (std::vector<double>{2.5, 1, -0.5, 0, 2.5, 2}));
  // Image 0, class 0: cam = f0 = a one-hot at (0, 0).
  EXPECT_EQ(class_activation_map(hand_features(), hand_weights(), 0, 0, false).to_vector(),
            (std::vector<double>{1, 0, 0, 0, 0, 0}));
  // Image 0, class 1: 0.5 at (0,0), -2 at (0,1), 1 at (0,2).
  EXPECT_EQ(class_activation_map(hand_features(), hand_weights(), 0, 1, false).to_vector(),
            (std::vector<double>{0.5, -2, 1, 0, 0, 0}));
}

TEST(Cam, NormalisedToZeroOneByMinMax) {
  // (v - min) / (max - min) with min -0.5 and max 2.5 (range 3).
  const Tensor cam = class_activation_map(hand_features(), hand_weights(), 1, 1);
  const std::vector<double> v = cam.to_vector();
  const std::vector<double> want{3.0 / 3, 1.5 / 3, 0, 0.5 / 3, 3.0 / 3, 2.5 / 3};
  ASSERT_EQ(v.size(), want.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], want[i], 1e-6) << i;
  // A constant map becomes zeros (no NaN from 0 / 0).
  const Tensor flat = normalize_map(Tensor::full({3, 4}, 7.0));
  for (double x : flat.to_vector()) EXPECT_EQ(x, 0.0);
}

TEST(Cam, PeakIsWhereTheClassEvidenceIs) {
  // K = 2 channels over a 5 x 4 map: channel 0 peaks at (3, 1), channel 1 at (0, 2).
  std::vector<double> f(2 * 5 * 4, 0.1);
  f[0 * 20 + 3 * 4 + 1] = 5;
  f[1 * 20 + 0 * 4 + 2] = 4;
  const Tensor fm = Tensor::from_vector(f, {1, 2, 5, 4});
  const Tensor w = Tensor::from_vector(std::vector<double>{1, 0.1, -0.5, 2}, {2, 2});
  auto argmax = [](const Tensor& t) {
    const std::vector<double> v = t.to_vector();
    return (int)(std::max_element(v.begin(), v.end()) - v.begin());
  };
  EXPECT_EQ(argmax(class_activation_map(fm, w, 0, 0)), 3 * 4 + 1);
  EXPECT_EQ(argmax(class_activation_map(fm, w, 0, 1)), 0 * 4 + 2);
  // The peak is 1 after normalisation, and the upsampled peak stays in its cell:
  // a 5 x 4 map over 50 x 40 pixels, cell (3, 1) covers rows 30-39, columns 10-19.
  const Tensor up = upsample_bilinear(class_activation_map(fm, w, 0, 0), 50, 40);
  const int p = argmax(up);
  EXPECT_GE(p / 40, 30);
  EXPECT_LT(p / 40, 40);
  EXPECT_GE(p % 40, 10);
  EXPECT_LT(p % 40, 20);
}

TEST(Cam, MeanOfRawMapPlusBiasIsTheClassScore) {
  // s = linear(global_avg_pool(f), W, b): s[n, c] = mean(cam_c of image n) + b[c].
  Rng rng(7);
  const Tensor f = test::uniform64({3, 6, 4, 5}, rng, 0.0, 2.0);
  const Tensor W = test::uniform64({4, 6}, rng);
  const Tensor b = test::uniform64({4}, rng);
  const std::vector<double> s = linear(global_avg_pool2d(f), W, b).to_vector();
  const std::vector<double> bias = b.to_vector();
  for (int n = 0; n < 3; ++n)
    for (int c = 0; c < 4; ++c) {
      const std::vector<double> cam = class_activation_map(f, W, n, c, false).to_vector();
      double mean = 0;
      for (double x : cam) mean += x / cam.size();
      EXPECT_NEAR(mean + bias[c], s[n * 4 + c], 1e-5) << n << ", " << c;
    }
  // float32 inputs give the same map to float precision.
  const Tensor a = class_activation_map(f, W, 2, 3);
  const Tensor b32 = class_activation_map(f.to(DType::F32), W.to(DType::F32), 2, 3);
  EXPECT_TENSORS_CLOSE(a, b32, 1e-5, 1e-5);
}

TEST(Cam, BilinearUpsamplingByHand) {
  // 2 x 2 -> 4 x 4: source coordinates (d + 0.5) / 2 - 0.5 = -0.25 (clamped
  // to 0), 0.25, 0.75, 1.25 (clamped to 1).
  const Tensor m = Tensor::from_vector(std::vector<double>{0, 1, 2, 3}, {2, 2});
  const std::vector<double> u = upsample_bilinear(m, 4, 4).to_vector();
  const std::vector<double> want{0,   0.25, 0.75, 1,    //
                                 0.5, 0.75, 1.25, 1.5,  //
                                 1.5, 1.75, 2.25, 2.5,  //
                                 2,   2.25, 2.75, 3};
  ASSERT_EQ(u.size(), want.size());
  for (size_t i = 0; i < u.size(); ++i) EXPECT_NEAR(u[i], want[i], 1e-6) << i;
  // Same size: the identity. Down to 1 x 1: the centre value.
  EXPECT_EQ(upsample_bilinear(m, 2, 2).to_vector(), m.to_vector());
  EXPECT_NEAR(upsample_bilinear(m, 1, 1).to_vector()[0], 1.5, 1e-6);
  EXPECT_THROW(upsample_bilinear(m, 0, 4), Error);
  EXPECT_THROW(upsample_bilinear(Tensor::zeros({2, 2, 2}), 4, 4), Error);
}

TEST(Cam, OverlayPictureAndPng) {
  // A grey-gradient 64 x 48 (h x w) image and a 2 x 2 map hot at the top-left.
  Image img(64, 48, 3);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 48; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = (uint8_t)(2 * y + x);
  const Tensor cam = Tensor::from_vector(std::vector<double>{1, 0, 0, 0}, {2, 2});

  const Image o = cam_overlay(img, cam, "melanoma", 0.8734);
  EXPECT_EQ(o.width, 48);
  EXPECT_EQ(o.height, 64 + cam_caption_height(48));
  EXPECT_EQ(o.channels, 3);
  // Pixel (0, 0): the map is 1 there; alpha 0.5 over the image pixel 0.
  const Rgb hot = viridis(1.0);
  EXPECT_NEAR(o.at(0, 0, 0), std::lround(0.5 * hot.r), 1);
  EXPECT_NEAR(o.at(0, 0, 1), std::lround(0.5 * hot.g), 1);
  // Bottom-right: map 0, image 2 * 63 + 47 = 173.
  const Rgb cold = viridis(0.0);
  EXPECT_NEAR(o.at(63, 47, 2), std::lround(173 + 0.5 * (cold.b - 173)), 1);
  // The caption band holds dark text.
  int dark = 0;
  for (int y = 64; y < o.height; ++y)
    for (int x = 0; x < 48; ++x) dark += o.at(y, x, 0) < 60;
  EXPECT_GT(dark, 10);
  EXPECT_EQ(cam_caption("melanoma", 0.8734), "melanoma 0.873");

  // alpha 0 leaves the image untouched; alpha 1 shows the colormap only.
  const Image o0 = cam_overlay(img, cam, "x", 0, 0.0);
  const Image o1 = cam_overlay(img, cam, "x", 0, 1.0);
  const std::vector<double> up = upsample_bilinear(cam, 64, 48).to_vector();
  for (int y = 0; y < 64; y += 7)
    for (int x = 0; x < 48; x += 5) {
      EXPECT_EQ(o0.at(y, x, 1), img.at(y, x, 1));
      const Rgb c = viridis(up[y * 48 + x]);
      EXPECT_EQ((Rgb{o1.at(y, x, 0), o1.at(y, x, 1), o1.at(y, x, 2)}), c) << y << ", " << x;
    }

  // The PNG has the same size, read back; a grey image works too.
  test::TempDir dir;
  save_cam_overlay(dir.path("cam.png"), img, cam, "melanoma", 0.8734);
  const Image back = load_image(dir.path("cam.png"));
  EXPECT_EQ(back.width, o.width);
  EXPECT_EQ(back.height, o.height);
  EXPECT_EQ(back.data, o.data);
  Image grey(30, 40, 1);
  EXPECT_EQ(cam_overlay(grey, cam, "g", 0.1).width, 40);

  // The figure: the image and two maps side by side, 8 px apart.
  const Image fig = cam_figure(img, "nodule / face", {{cam, "lesion: nodule", 0.91},
                                                       {cam, "site: face", 0.55}});
  EXPECT_EQ(fig.width, 3 * 48 + 2 * 8);
  EXPECT_EQ(fig.height, o.height);
  save_cam_figure(dir.path("fig.png"), img, "a", {{cam, "b", 0.5}});
  EXPECT_EQ(load_image(dir.path("fig.png")).width, 2 * 48 + 8);

  EXPECT_THROW(cam_overlay(img, cam, "x", 0, 1.5), Error);
  EXPECT_THROW(save_cam_overlay("/nonexistent_dir/c.png", img, cam, "x", 0), Error);
}

TEST(Cam, Errors) {
  const Tensor f = hand_features(), w = hand_weights();
  EXPECT_THROW(class_activation_map(f.reshape({2, 3, 6}), w, 0, 0), Error);  // rank 3
  EXPECT_THROW(class_activation_map(f, w.reshape({6}), 0, 0), Error);
  EXPECT_THROW(class_activation_map(f, Tensor::zeros({2, 4}, DType::F64), 0, 0), Error);  // K
  EXPECT_THROW(class_activation_map(f, w, 2, 0), Error);   // image out of range
  EXPECT_THROW(class_activation_map(f, w, -1, 0), Error);
  EXPECT_THROW(class_activation_map(f, w, 0, 2), Error);   // class out of range
  EXPECT_THROW(class_activation_map(Tensor(), w, 0, 0), Error);
  std::vector<double> bad(2 * 3 * 2 * 3, 0.0);
  bad[5] = NAN;
  EXPECT_THROW(class_activation_map(Tensor::from_vector(bad, {2, 3, 2, 3}), w, 0, 0), Error);
}

TEST(CamCuda, DeviceTensorsAreCopiedToTheHost) {
  REQUIRE_CUDA();
  Rng rng(3);
  const Tensor f = test::uniform64({2, 16, 7, 7}, rng).to(DType::F32);
  const Tensor w = test::uniform64({5, 16}, rng).to(DType::F32);
  const Tensor cpu = class_activation_map(f, w, 1, 4);
  const Tensor gpu = class_activation_map(f.to(Device::CUDA), w.to(Device::CUDA), 1, 4);
  EXPECT_EQ(gpu.device(), Device::CPU);
  EXPECT_EQ(cpu.to_vector(), gpu.to_vector());
}

}  // namespace
}  // namespace skinmtl
