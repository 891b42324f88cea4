// roi_align, roi_align_fpn, fpn_roi_levels: the pixel-centre convention and
// the edge rules against values computed by hand on tiny maps (aligned true
// and false, sampling ratios 1, 2 and adaptive, boxes partly outside the map),
// a backward by hand, float64 gradient checks on odd shapes, the FPN level
// rule (Lin et al. eq. 1) and per-level pooling, errors, and CPU-vs-CUDA
// parity (the CUDA backward gathers, the CPU scatters: different orders).
// tests/nets/test_torch_reference.cpp compares with torchvision.ops.roi_align.
#include "kernels/roi_align.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <utility>

#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

Tensor plane(const std::vector<double>& v, int64_t h, int64_t w) {
  return Tensor::from_vector(v, {1, 1, h, w}, DType::F64);
}

// x[h][w] = 10 h + w on a 4 x 4 map. Bilinear interpolation reproduces a
// linear function exactly, so inside [0, 3] x [0, 3] a sample at (y, x)
// reads 10 y + x, and a bin of samples symmetric about its centre reads the
// ramp at the centre.
Tensor ramp4() {
  std::vector<double> v(16);
  for (int h = 0; h < 4; ++h)
    for (int w = 0; w < 4; ++w) v[h * 4 + w] = 10 * h + w;
  return plane(v, 4, 4);
}

// Zeros with a 1 at (1, 1) on a 4 x 4 map: a sample at (y, x) reads
// tent(y - 1) tent(x - 1), tent(t) = max(0, 1 - |t|), so sampling choices show.
Tensor hot_pixel4() {
  std::vector<double> v(16, 0.0);
  v[1 * 4 + 1] = 1;
  return plane(v, 4, 4);
}

Tensor boxes(const std::vector<std::vector<double>>& rows, DType dtype = DType::F64) {
  std::vector<double> v;
  for (const auto& r : rows) v.insert(v.end(), r.begin(), r.end());
  return Tensor::from_vector(v, {(int64_t)rows.size(), 5}, dtype);
}

RoiAlignParams params(int out_h, int out_w, int sampling_ratio, bool aligned,
                      double spatial_scale = 1.0) {
  RoiAlignParams p;
  p.out_h = out_h;
  p.out_w = out_w;
  p.sampling_ratio = sampling_ratio;
  p.aligned = aligned;
  p.spatial_scale = spatial_scale;
  return p;
}

// The single value of a one-RoI, one-bin, one-channel pooling.
double one_bin(const Tensor& x, const std::vector<double>& box, int sampling_ratio, bool aligned,
               double spatial_scale = 1.0) {
  Tensor y = roi_align(x, boxes({box}), params(1, 1, sampling_ratio, aligned, spatial_scale));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 1, 1}));
  return y.item();
}

std::string describe(const RoiAlignParams& p) {
  std::ostringstream os;
  os << "out " << p.out_h << "x" << p.out_w << " sampling " << p.sampling_ratio
     << (p.aligned ? " aligned" : " legacy") << " scale " << p.spatial_scale;
  return os.str();
}

// ---- forward by hand ------------------------------------------------------------------

TEST(RoiAlign, PixelCentreConventionOnARamp) {
  const Tensor x = ramp4();
  // aligned: the box [1, 3) x [1, 2) covers feature x 0.5 .. 2.5, y 0.5 .. 1.5;
  // one sample at the centre (y 1.0, x 1.5) reads 10 + 1.5.
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 1, 1, 3, 2}, 1, true), 11.5);
  // legacy: no shift, feature x 1 .. 3, y 1 .. 2, centre (1.5, 2.0).
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 1, 1, 3, 2}, 1, false), 17.0);
  // spatial_scale 0.5: the box [2, 6) x [2, 4) in input pixels is the same
  // feature box as above.
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 2, 2, 6, 4}, 1, true, 0.5), 11.5);
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 2, 2, 6, 4}, 1, false, 0.5), 17.0);
  // The box [0, 4) x [0, 4) is exactly the 16 pixels: with 4 samples per side
  // they fall on the pixel centres 0, 1, 2, 3 (feature -0.5 + k + 0.5), and the
  // bin is the plain mean of the map, 10 * 1.5 + 1.5.
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 0, 0, 4, 4}, 4, true), 16.5);
  // Two by two bins of the same box: bin centres at feature 0.5 and 2.5. The
  // last samples (y or x = 3 = H - 1) take the clamped edge branch.
  Tensor y = roi_align(x, boxes({{0, 0, 0, 4, 4}}), params(2, 2, 2, true));
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(std::vector<double>{5.5, 7.5, 25.5, 27.5}, {1, 1, 2, 2},
                                           DType::F64),
                       y, 1e-14, 1e-14);
  // A non-square grid: 1 x 3 bins over [0, 3) x [1, 2): feature x -0.5 .. 2.5,
  // bins 1 wide; y samples 0.75 and 1.25 (mean 1.0). The first bin's x samples
  // are -0.25, clamped to 0, and 0.25: it reads 10 + 0.125, not the ramp at its
  // centre (10 + 0). The others read 11 and 12.
  y = roi_align(x, boxes({{0, 0, 1, 3, 2}}), params(1, 3, 2, true));
  EXPECT_TENSORS_CLOSE(
      Tensor::from_vector(std::vector<double>{10.125, 11, 12}, {1, 1, 1, 3}, DType::F64), y, 1e-14,
      1e-14);
}

TEST(RoiAlign, SamplingRatiosOnAHotPixel) {
  const Tensor x = hot_pixel4();
  // The box [1, 4) on both axes.
  // aligned: feature 0.5 .. 3.5, one bin of 3 pixels.
  //   1 sample:  centre 2.0, tent(1) = 0                                  -> 0
  //   2 samples: 1.25 and 2.75; tent 0.75 and 0; mean of the 2 x 2 products
  //              0.75 * 0.75 / 4                                          -> 0.140625
  //   adaptive:  ceil(3 / 1) = 3 samples, 1.0, 2.0, 3.0; tent 1, 0, 0     -> 1 / 9
  const std::vector<double> box{0, 1, 1, 4, 4};
  EXPECT_DOUBLE_EQ(one_bin(x, box, 1, true), 0.0);
  EXPECT_DOUBLE_EQ(one_bin(x, box, 2, true), 0.140625);
  EXPECT_DOUBLE_EQ(one_bin(x, box, 0, true), 1.0 / 9);
  // legacy: feature 1 .. 4.
  //   1 sample:  2.5, tent 0                                              -> 0
  //   2 samples: 1.75 and 3.25 (clamped to row 3); tent 0.25 and 0        -> 0.0625 / 4
  //   adaptive:  1.5, 2.5, 3.5 (clamped to 3); tent 0.5, 0, 0             -> 0.25 / 9
  EXPECT_DOUBLE_EQ(one_bin(x, box, 1, false), 0.0);
  EXPECT_DOUBLE_EQ(one_bin(x, box, 2, false), 0.015625);
  EXPECT_DOUBLE_EQ(one_bin(x, box, 0, false), 0.25 / 9);
}

TEST(RoiAlign, BoxPartlyOutsideTheMap) {
  const Tensor x = ramp4();
  // aligned box [-3, 1) x [2, 3): feature x -3.5 .. 0.5 (one bin 4 wide), y 1.5 .. 2.5.
  //   2 samples: x -2.5 (outside [-1, 4]: 0) and -0.5 (inside, clamped to 0);
  //   y 1.75 and 2.25. (0 + 0 + 17.5 + 22.5) / 4 = 10.
  EXPECT_DOUBLE_EQ(one_bin(x, {0, -3, 2, 1, 3}, 2, true), 10.0);
  //   adaptive: 4 x 1 samples, x -3, -2 (outside), -1 (the border itself:
  //   inside, clamped to 0), 0; y 2.0. (0 + 0 + 20 + 20) / 4 = 10; without
  //   the inclusive border it would be 5.
  EXPECT_DOUBLE_EQ(one_bin(x, {0, -3, 2, 1, 3}, 0, true), 10.0);
  // The far side: aligned box [3, 6) x [0, 1): feature x 2.5 .. 5.5, y -0.5 .. 0.5.
  //   x samples 3.25 (>= H - 1: clamped to column 3) and 4.75 (> 4: outside);
  //   y samples -0.25 (clamped to 0) and 0.25. (3 + 5.5 + 0 + 0) / 4.
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 3, 0, 6, 1}, 2, true), 2.125);
  // legacy, the same box: x 3 .. 6, samples 3.75 (clamped to 3) and 5.25
  // (outside); y 0 .. 1, samples 0.25 and 0.75. (5.5 + 10.5) / 4.
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 3, 0, 6, 1}, 2, false), 4.0);
  // Entirely outside: every sample is 0.
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 10, 10, 14, 12}, 2, true), 0.0);
}

TEST(RoiAlign, LegacyModeWidensTinyBoxes) {
  const Tensor x = ramp4();
  // A 0.2 x 0.2 box at (1, 1): legacy widens it to 1 x 1 (feature 1 .. 2,
  // centre 1.5); aligned keeps it (feature 0.5 .. 0.7, centre 0.6).
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 1, 1, 1.2, 1.2}, 1, false), 16.5);
  EXPECT_NEAR(one_bin(x, {0, 1, 1, 1.2, 1.2}, 1, true), 6.6, 1e-12);
  // An empty box with an adaptive grid has no samples at all: 0.
  EXPECT_DOUBLE_EQ(one_bin(x, {0, 2, 2, 2, 2}, 0, true), 0.0);
}

TEST(RoiAlign, EachRoiReadsItsOwnImageAndChannels) {
  // Image 0 is 1 (channel 0) and 2 (channel 1) everywhere, image 1 is 5 and 7:
  // a constant map pools to its constant wherever the samples land inside.
  std::vector<double> v;
  for (double c : {1.0, 2.0, 5.0, 7.0}) v.insert(v.end(), 6 * 5, c);
  Tensor x = Tensor::from_vector(v, {2, 2, 6, 5}, DType::F64);
  Tensor y = roi_align(x, boxes({{1, 0.5, 1, 4, 5.5}, {0, 1, 0.2, 3.3, 2}, {1, 2, 2, 3, 3}}),
                       params(2, 3, 0, true));
  ASSERT_EQ(y.shape(), (Shape{3, 2, 2, 3}));
  const std::vector<double> got = y.to_vector();
  const double want[3][2] = {{5, 7}, {1, 2}, {5, 7}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 2; ++c)
      for (int k = 0; k < 6; ++k) EXPECT_NEAR(got[(r * 2 + c) * 6 + k], want[r][c], 1e-12);
}

// ---- backward by hand ----------------------------------------------------------------

TEST(RoiAlign, BackwardByHand) {
  // The hot-pixel case with 2 samples: samples at 1.25 and 2.75 on each axis.
  // Sample 1.25 puts 0.75 on index 1 and 0.25 on 2; sample 2.75 puts 0.25 on 2
  // and 0.75 on 3. Averaged over the 2 samples per axis, the bin's weights are
  // a = (0, 0.375, 0.25, 0.375) along each axis, and dx = dy * a a^T.
  Tensor x = hot_pixel4().set_requires_grad(true);
  Tensor y = roi_align(x, boxes({{0, 1, 1, 4, 4}}), params(1, 1, 2, true));
  y.backward(Tensor::from_vector(std::vector<double>{2.0}, {1, 1, 1, 1}, DType::F64));
  const double a[4] = {0, 0.375, 0.25, 0.375};
  std::vector<double> want(16);
  for (int h = 0; h < 4; ++h)
    for (int w = 0; w < 4; ++w) want[h * 4 + w] = 2.0 * a[h] * a[w];
  EXPECT_TENSORS_CLOSE(plane(want, 4, 4), x.grad(), 1e-15, 1e-15);

  // Partly outside: the aligned box [-3, 1) x [2, 3) with 2 samples (see
  // BoxPartlyOutsideTheMap). Only the two samples at x -0.5 (clamped to
  // column 0, weight 1) count, each with 1 / 4 of the bin's gradient: y 1.75
  // puts 0.25 on row 1 and 0.75 on row 2; y 2.25 puts 0.75 on row 2 and 0.25
  // on row 3.
  Tensor x2 = ramp4().set_requires_grad(true);
  roi_align(x2, boxes({{0, -3, 2, 1, 3}}), params(1, 1, 2, true))
      .backward(Tensor::from_vector(std::vector<double>{1.0}, {1, 1, 1, 1}, DType::F64));
  std::vector<double> want2(16, 0.0);
  want2[1 * 4] = 0.25 * 0.25;
  want2[2 * 4] = 0.25 * (0.75 + 0.75);
  want2[3 * 4] = 0.25 * 0.25;
  EXPECT_TENSORS_CLOSE(plane(want2, 4, 4), x2.grad(), 1e-15, 1e-15);
}

TEST(RoiAlign, BackwardAccumulates) {
  Rng rng(3);
  Tensor x = uniform64({2, 3, 9, 7}, rng).set_requires_grad(true);
  Tensor rois = boxes({{1, 0.3, 1.2, 5.1, 6.7}, {0, -1.5, 2.5, 3.2, 9.9}});
  Tensor y = roi_align(x, rois, params(3, 2, 0, true));
  Tensor r = uniform64(y.shape(), rng);
  y.backward(r);
  std::vector<double> once = x.grad().to_vector();
  y.backward(r);
  for (double& v : once) v *= 2;
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(once, x.shape(), DType::F64), x.grad(), 1e-14, 1e-14);
}

// The CPU loops split over the threads (the forward by RoI, the backward by
// channel) and give the serial loops' bits: 40 overlapping RoIs on two images,
// 64 channels, 7 x 7 bins (enough elements to split), on 1 and on 2 threads.
TEST(RoiAlign, ThreadsChangeNoBit) {
  Rng rng(4);
  const Tensor x = randn({2, 64, 23, 19}, rng);
  std::vector<std::vector<double>> rows;
  for (int i = 0; i < 40; ++i) {
    const double x1 = rng.uniform(-2, 14), y1 = rng.uniform(-2, 16);
    rows.push_back({(double)(i % 2), x1, y1, x1 + rng.uniform(1, 9), y1 + rng.uniform(1, 9)});
  }
  const Tensor rois = boxes(rows, DType::F32);
  const Tensor r = randn({40, 64, 7, 7}, rng);
  auto run = [&](int threads) {
    test::ThreadCountGuard guard(threads);
    Tensor xg = x.clone().set_requires_grad(true);
    const Tensor y = roi_align(xg, rois, params(7, 7, 2, true));
    y.backward(r);
    return std::make_pair(y, xg.grad());
  };
  const auto [y1, dx1] = run(1);
  const auto [y2, dx2] = run(2);
  EXPECT_TRUE(test::bitwise_equal(y1, y2));
  EXPECT_TRUE(test::bitwise_equal(dx1, dx2));
  EXPECT_GT(test::l2_relative_gap(Tensor::zeros(dx1.shape()), dx1), 0.5) << "the gradient must not be empty";
}

// The loops that run compute each RoI's samples once for all its channels
// (kernels/cpu/roi_align.cpp); the reference loops call the header's
// functions for every channel. Same expressions, same order: the same bits,
// forward and backward, in float32 and float64, over the cases the geometry
// has: aligned and legacy, sampling ratios 0 (adaptive), 1 and 3, RoIs on
// both images, partly or wholly outside the map, empty (x2 < x1), thinner
// than a pixel and larger than the map, all RoIs and a listed subset.
template <typename T>
void expect_fast_loops_give_the_reference_bits(DType dtype) {
  Rng rng(21);
  const int64_t N = 2, C = 5, H = 13, W = 11;
  std::vector<double> v;
  for (int i = 0; i < 30; ++i) {
    const double x1 = rng.uniform(-20, 50), y1 = rng.uniform(-20, 60);
    const double w = i % 7 == 0 ? -3.0 : i % 5 == 0 ? 0.3 : rng.uniform(1, 90), h = rng.uniform(0.5, 80);
    v.insert(v.end(), {(double)(i % N), x1, y1, x1 + w, y1 + h});
  }
  const Tensor rois = Tensor::from_vector(v, {30, 5}, dtype);
  const Tensor x = randn({N, C, H, W}, rng).to(dtype), dy = randn({30, C, 7, 6}, rng).to(dtype);
  const std::vector<int32_t> subset = {29, 3, 4, 17, 0, 11, 8};
  for (const bool aligned : {true, false})
    for (const int sampling : {0, 1, 3})
      for (const bool listed : {false, true}) {
        const RoiAlignGeom g{N, C, H, W, 7, 6, 0.25, sampling, aligned};
        const int32_t* index = listed ? subset.data() : nullptr;
        const int64_t n = listed ? (int64_t)subset.size() : 30;
        const std::string what = std::string(aligned ? "aligned" : "legacy") + ", sampling " +
                                 std::to_string(sampling) + (listed ? ", listed" : ", all");
        std::vector<T> y_fast(30 * C * 42, T(-7)), y_ref = y_fast;  // unlisted rows keep their poison
        roi_align_forward_cpu<T>(y_fast.data(), x.data<T>(), rois.data<T>(), index, n, g);
        roi_align_forward_cpu_reference<T>(y_ref.data(), x.data<T>(), rois.data<T>(), index, n, g);
        EXPECT_TRUE(y_fast == y_ref) << what;
        std::vector<T> dx_fast(N * C * H * W, T(0.5)), dx_ref = dx_fast;  // the backward adds
        roi_align_backward_cpu<T>(dx_fast.data(), dy.data<T>(), rois.data<T>(), index, n, g);
        roi_align_backward_cpu_reference<T>(dx_ref.data(), dy.data<T>(), rois.data<T>(), index, n, g);
        EXPECT_TRUE(dx_fast == dx_ref) << what;
        EXPECT_NE(dx_fast, std::vector<T>(N * C * H * W, T(0.5))) << what << ": the gradient must reach the map";
      }
}

TEST(RoiAlign, FastLoopsGiveTheReferenceBits) {
  expect_fast_loops_give_the_reference_bits<float>(DType::F32);
  expect_fast_loops_give_the_reference_bits<double>(DType::F64);
}

TEST(RoiAlign, NoRois) {
  Rng rng(4);
  Tensor x = uniform64({2, 3, 5, 4}, rng).set_requires_grad(true);
  Tensor y = roi_align(x, Tensor::zeros({0, 5}, DType::F64), params(7, 7, 2, true));
  EXPECT_EQ(y.shape(), (Shape{0, 3, 7, 7}));
  y.backward(Tensor::zeros({0, 3, 7, 7}, DType::F64));
  ASSERT_TRUE(x.grad().defined());
  for (double v : x.grad().to_vector()) EXPECT_EQ(v, 0.0);
}

// ---- gradient checks -------------------------------------------------------------------

// Four RoIs with fractional coordinates on a (2, 3, 9, 7) map at scale 1: on
// images 0 and 1, one partly outside, one large (adaptive grids above 1), one
// small. RoIAlign is linear in the features, so central differences are exact
// up to rounding whatever the sample positions (no kinks in x; the bilinear
// kinks are in the box coordinates, which get no gradient).
Tensor gradcheck_rois() {
  return boxes({{0, 0.3, 0.6, 5.7, 7.2},
                {1, -1.6, 3.3, 2.9, 10.4},
                {1, 1.1, 0.4, 6.8, 8.9},
                {0, 2.2, 4.1, 3.05, 4.9}});
}

std::vector<RoiAlignParams> gradcheck_configs() {
  std::vector<RoiAlignParams> c;
  for (bool aligned : {true, false})
    for (int sr : {0, 2}) c.push_back(params(3, 2, sr, aligned));
  c.push_back(params(2, 3, 1, true, 0.75));  // another scale and grid shape
  return c;
}

TEST(RoiAlign, GradCheck) {
  Rng rng(5);
  for (const RoiAlignParams& p : gradcheck_configs()) {
    SCOPED_TRACE(describe(p));
    EXPECT_GRADCHECK([p](const std::vector<Tensor>& v) { return roi_align(v[0], v[1], p); },
                     {uniform64({2, 3, 9, 7}, rng), gradcheck_rois()}, {}, {1});
  }
}

// ---- FPN ----------------------------------------------------------------------------------

TEST(FpnRoiLevels, LinEtAlEquationOne) {
  // k = floor(4 + log2(sqrt(w h) / 224)), clamped to [2, 5].
  Tensor r = boxes({{0, 0, 0, 224, 224},     // log2(1) = 0          -> 4
                    {0, 10, 10, 122, 122},   // 112: -1              -> 3
                    {0, 0, 0, 111, 111},     // just under 112       -> 2
                    {0, 0, 0, 448, 448},     // 448: +1              -> 5
                    {0, 0, 0, 447, 447},     // just under 448       -> 4
                    {0, 0, 0, 224, 56},      // sqrt(224 * 56) = 112 -> 3
                    {0, 0, 0, 10, 10},       // tiny: clamped up     -> 2
                    {0, 0, 0, 3000, 2000},   // huge: clamped down   -> 5
                    {0, 5, 5, 5, 9},         // zero width           -> 2
                    {1, 9, 9, 3, 3}});       // inverted             -> 2
  EXPECT_EQ(fpn_roi_levels(r), (std::vector<int>{4, 3, 2, 5, 4, 3, 2, 5, 2, 2}));
  // Other clamps and a different canonical scale.
  EXPECT_EQ(fpn_roi_levels(r, 3, 4), (std::vector<int>{4, 3, 3, 4, 4, 3, 3, 4, 3, 3}));
  EXPECT_EQ(fpn_roi_levels(r, 0, 9, 112, 3),
            (std::vector<int>{4, 3, 2, 5, 4, 3, 0, 7, 0, 0}));
  EXPECT_TRUE(fpn_roi_levels(Tensor::zeros({0, 5})).empty());
}

// A 4-level pyramid P2..P5 of an image 320 x 256 (strides 4 .. 32), and RoIs
// on every level (eq. 1 with the defaults: canonical 224 on P4).
struct Pyramid {
  std::vector<Tensor> levels;
  Tensor rois;
};

Pyramid make_pyramid(Rng& rng, int64_t N, int64_t C, DType dtype) {
  Pyramid p;
  for (int l = 2; l <= 5; ++l) {
    const int64_t s = int64_t(1) << l;
    Tensor t = rand_uniform({N, C, 256 / s, 320 / s}, rng, -1.0, 1.0, dtype);
    p.levels.push_back(t);
  }
  const double last = (double)(N - 1);  // the last image
  p.rois = boxes({{0, 10.5, 20.25, 60.75, 80.5},       // sqrt(50 x 60) = 55     -> P2
                  {last, 100.2, 30.7, 250.9, 200.1},   // sqrt(151 x 169) = 160 -> P3
                  {0, -40.3, -20.6, 330.8, 300.2},     // sqrt(371 x 321) = 345 -> P4
                  {last, 5.5, 5.5, 9.5, 15.5},         // tiny                   -> P2
                  {0, -200.4, -150.2, 400.6, 400.3}},  // sqrt(601 x 550) = 575 -> P5
                 dtype);
  return p;
}

TEST(RoiAlignFpn, EachRoiIsPooledFromItsLevel) {
  Rng rng(6);
  const Pyramid pyr = make_pyramid(rng, 2, 3, DType::F64);
  const std::vector<int> lv = fpn_roi_levels(pyr.rois);
  // floor(4 + log2(345 / 224)) = floor(4.62) = 4: the third RoI is on P4.
  ASSERT_EQ(lv, (std::vector<int>{2, 3, 4, 2, 5}));
  for (const RoiAlignParams& p : {params(7, 7, 2, true), params(3, 5, 0, false)}) {
    SCOPED_TRACE(describe(p));
    Tensor y = roi_align_fpn(pyr.levels, pyr.rois, p);
    ASSERT_EQ(y.shape(), (Shape{5, 3, p.out_h, p.out_w}));
    for (int64_t r = 0; r < 5; ++r) {
      RoiAlignParams q = p;
      q.spatial_scale = 1.0 / (1 << lv[r]);
      const Tensor want = roi_align(pyr.levels[lv[r] - 2], slice(pyr.rois, 0, r, r + 1), q);
      EXPECT_TENSORS_CLOSE(want, slice(y, 0, r, r + 1), 0, 0) << "RoI " << r;
    }
  }
}

// canonical_size (the RoI side pooled from P4) moves the levels: at 56, a
// quarter of Lin et al.'s 224, every RoI goes two levels up (clamped to P5),
// and is pooled from that level.
TEST(RoiAlignFpn, TheCanonicalSizeChoosesTheLevels) {
  Rng rng(16);
  const Pyramid pyr = make_pyramid(rng, 2, 3, DType::F64);
  const std::vector<int> lv = fpn_roi_levels(pyr.rois, 2, 5, 56);
  // floor(4 + log2(55 / 56)) = 3; floor(4 + log2(160 / 56)) = 5; the tiny one: floor(4 + log2(4.9 / 56)) = 0 -> 2.
  ASSERT_EQ(lv, (std::vector<int>{3, 5, 5, 2, 5}));
  const RoiAlignParams p = params(7, 7, 2, true);
  const Tensor y = roi_align_fpn(pyr.levels, pyr.rois, p, 2, 56);
  const Tensor y224 = roi_align_fpn(pyr.levels, pyr.rois, p);
  for (int64_t r = 0; r < 5; ++r) {
    RoiAlignParams q = p;
    q.spatial_scale = 1.0 / (1 << lv[r]);
    const Tensor want = roi_align(pyr.levels[lv[r] - 2], slice(pyr.rois, 0, r, r + 1), q);
    EXPECT_TENSORS_CLOSE(want, slice(y, 0, r, r + 1), 0, 0) << "RoI " << r;
  }
  EXPECT_FALSE(y.to_vector() == y224.to_vector());
  EXPECT_THROW(roi_align_fpn(pyr.levels, pyr.rois, p, 2, 0), Error);
}

// RoIs on P2, P3 and P5 only: P4's gradient must be defined and zero.
Tensor rois_without_p4(DType dtype) {
  return boxes({{0, 10.5, 20.25, 60.75, 80.5},
                {1, 100.2, 30.7, 250.9, 200.1},
                {1, 5.5, 5.5, 9.5, 15.5},
                {0, -200.4, -150.2, 400.6, 400.3}},
               dtype);
}

TEST(RoiAlignFpn, EmptyLevelGetsZeroGradient) {
  Rng rng(7);
  Pyramid pyr = make_pyramid(rng, 2, 2, DType::F64);
  Tensor rois = rois_without_p4(DType::F64);
  ASSERT_EQ(fpn_roi_levels(rois), (std::vector<int>{2, 3, 2, 5}));
  for (Tensor& t : pyr.levels) t.set_requires_grad(true);
  Tensor y = roi_align_fpn(pyr.levels, rois, params(7, 7, 2, true));
  y.backward(uniform64(y.shape(), rng));
  for (int k = 0; k < 4; ++k) {
    ASSERT_TRUE(pyr.levels[k].grad().defined()) << "P" << k + 2;
    double m = 0;
    for (double v : pyr.levels[k].grad().to_vector()) m = std::max(m, std::fabs(v));
    if (k == 2)
      EXPECT_EQ(m, 0.0) << "P4 has no RoI";
    else
      EXPECT_GT(m, 0.0) << "P" << k + 2 << " has RoIs";
  }
}

TEST(RoiAlignFpn, GradCheck) {
  Rng rng(8);
  const Pyramid pyr = make_pyramid(rng, 2, 2, DType::F64);
  for (const RoiAlignParams& p : {params(3, 2, 2, true), params(2, 3, 0, false)}) {
    SCOPED_TRACE(describe(p));
    EXPECT_GRADCHECK(
        [p](const std::vector<Tensor>& v) {
          return roi_align_fpn({v[0], v[1], v[2], v[3]}, v[4], p);
        },
        {pyr.levels[0], pyr.levels[1], pyr.levels[2], pyr.levels[3], rois_without_p4(DType::F64)},
        {}, {4});
  }
}

TEST(RoiAlignFpn, NoRois) {
  Rng rng(9);
  const Pyramid pyr = make_pyramid(rng, 1, 3, DType::F32);
  Tensor y = roi_align_fpn(pyr.levels, Tensor::zeros({0, 5}), params(7, 7, 2, true));
  EXPECT_EQ(y.shape(), (Shape{0, 3, 7, 7}));
}

// ---- errors -------------------------------------------------------------------------------

TEST(RoiAlign, Errors) {
  Tensor x = Tensor::zeros({2, 3, 8, 8});
  Tensor ok = boxes({{1, 0, 0, 4, 4}}, DType::F32);
  const RoiAlignParams p = params(7, 7, 2, true);
  EXPECT_NO_THROW(roi_align(x, ok, p));
  EXPECT_THROW(roi_align(Tensor::zeros({3, 8, 8}), ok, p), Error);            // features 3-D
  EXPECT_THROW(roi_align(x, Tensor::zeros({1, 4}), p), Error);                // rois (R, 4)
  EXPECT_THROW(roi_align(x, Tensor::zeros({5}), p), Error);                   // rois 1-D
  EXPECT_THROW(roi_align(x, Tensor(), p), Error);                             // undefined
  EXPECT_THROW(roi_align(x, boxes({{2, 0, 0, 4, 4}}, DType::F32), p), Error);   // batch 2 of 2
  EXPECT_THROW(roi_align(x, boxes({{-1, 0, 0, 4, 4}}, DType::F32), p), Error);  // negative
  EXPECT_THROW(roi_align(x, boxes({{0.5, 0, 0, 4, 4}}, DType::F32), p), Error); // not an integer
  EXPECT_THROW(roi_align(x, boxes({{0, 0, NAN, 4, 4}}, DType::F32), p), Error); // NaN coordinate
  EXPECT_THROW(roi_align(x, boxes({{1, 0, 0, 4, 4}}, DType::F64), p), Error);   // dtype mismatch
  EXPECT_THROW(roi_align(x, ok, params(0, 7, 2, true)), Error);               // output 0 x 7
  EXPECT_THROW(roi_align(x, ok, params(7, 7, -1, true)), Error);              // sampling < 0
  EXPECT_THROW(roi_align(x, ok, params(7, 7, 2, true, 0.0)), Error);          // scale 0
  EXPECT_THROW(fpn_roi_levels(ok, 5, 2), Error);                              // min > max
  EXPECT_THROW(fpn_roi_levels(Tensor::zeros({2, 4})), Error);
}

TEST(RoiAlignFpn, Errors) {
  Rng rng(10);
  const Pyramid pyr = make_pyramid(rng, 2, 3, DType::F32);
  const Tensor rois = rois_without_p4(DType::F32);
  const RoiAlignParams p = params(7, 7, 2, true);
  EXPECT_NO_THROW(roi_align_fpn(pyr.levels, rois, p));
  EXPECT_THROW(roi_align_fpn({}, rois, p), Error);  // no levels
  std::vector<Tensor> bad = pyr.levels;
  bad[1] = Tensor::zeros({1, 3, 32, 40});  // N differs
  EXPECT_THROW(roi_align_fpn(bad, rois, p), Error);
  bad = pyr.levels;
  bad[2] = Tensor::zeros({2, 4, 16, 20});  // C differs
  EXPECT_THROW(roi_align_fpn(bad, rois, p), Error);
  bad = pyr.levels;
  bad[3] = Tensor::zeros({2, 3, 8, 10}, DType::F64);  // dtype differs
  EXPECT_THROW(roi_align_fpn(bad, rois, p), Error);
  bad = pyr.levels;
  bad[0] = Tensor::zeros({2, 3, 64});  // 3-D
  EXPECT_THROW(roi_align_fpn(bad, rois, p), Error);
  EXPECT_THROW(roi_align_fpn(pyr.levels, boxes({{2, 0, 0, 4, 4}}, DType::F32), p), Error);
  EXPECT_THROW(roi_align_fpn(pyr.levels, Tensor::zeros({3, 6}), p), Error);
  EXPECT_THROW(roi_align_fpn(pyr.levels, rois, p, -1), Error);  // min_level < 0
}

// ---- CUDA ---------------------------------------------------------------------------------

// R RoIs with fractional coordinates over an image of img_w x img_h input
// pixels, on images 0 .. N-1: some partly outside, sizes from tiny to larger
// than the image.
Tensor random_rois(Rng& rng, int64_t R, int64_t N, double img_w, double img_h) {
  std::vector<double> v;
  for (int64_t r = 0; r < R; ++r) {
    const double w = img_w * rng.uniform(0.02, 1.3), h = img_h * rng.uniform(0.02, 1.3);
    const double x1 = rng.uniform(-0.3 * img_w, img_w * 0.9), y1 = rng.uniform(-0.3 * img_h, img_h * 0.9);
    v.insert(v.end(), {(double)(r % N), x1, y1, x1 + w, y1 + h});
  }
  return Tensor::from_vector(v, {R, 5});
}

TEST(RoiAlignCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(11);
  // Features (3, 5, 11, 7) at scale 1/4: an input image of 28 x 44 pixels.
  const Tensor x = randn({3, 5, 11, 7}, rng);
  const Tensor rois = random_rois(rng, 9, 3, 28, 44);
  for (bool aligned : {true, false})
    for (int sr : {0, 1, 2})
      for (auto [oh, ow] : std::vector<std::pair<int, int>>{{7, 7}, {3, 5}, {14, 14}}) {
        const RoiAlignParams p = params(oh, ow, sr, aligned, 0.25);
        SCOPED_TRACE(describe(p));
        // The backward sums in a different order on each device (scatter vs gather).
        test::expect_cpu_cuda_parity(
            [p](const std::vector<Tensor>& v) { return roi_align(v[0], v[1], p); }, {x, rois},
            1e-4, 1e-5, {1});
      }
}

TEST(RoiAlignCuda, ParityManyRoisLargeMap) {
  REQUIRE_CUDA();
  Rng rng(12);
  // A P2-like map of a 384 x 512 image (2, 16, 96, 128) and 300 RoIs: more
  // outputs and feature elements than one thread each in a single grid pass.
  const Tensor x = randn({2, 16, 96, 128}, rng);
  const Tensor rois = random_rois(rng, 300, 2, 512, 384);
  const RoiAlignParams p = params(7, 7, 0, true, 0.25);
  test::expect_cpu_cuda_parity(
      [p](const std::vector<Tensor>& v) { return roi_align(v[0], v[1], p); }, {x, rois}, 1e-4,
      1e-4, {1});
}

TEST(RoiAlignCuda, FpnParityWithAnEmptyLevel) {
  REQUIRE_CUDA();
  Rng rng(13);
  const Pyramid pyr = make_pyramid(rng, 2, 5, DType::F32);
  for (const Tensor& rois : {pyr.rois, rois_without_p4(DType::F32)}) {  // all 4 levels; P4 empty
    SCOPED_TRACE("levels " + ::testing::PrintToString(fpn_roi_levels(rois)));
    for (const RoiAlignParams& p : {params(7, 7, 2, true), params(14, 14, 0, true),
                                    params(3, 5, 0, false)}) {
      SCOPED_TRACE(describe(p));
      test::expect_cpu_cuda_parity(
          [p](const std::vector<Tensor>& v) {
            return roi_align_fpn({v[0], v[1], v[2], v[3]}, v[4], p);
          },
          {pyr.levels[0], pyr.levels[1], pyr.levels[2], pyr.levels[3], rois}, 1e-4, 1e-5, {4});
    }
  }
  // Random RoIs over all levels too.
  const Tensor many = random_rois(rng, 40, 2, 320, 256);
  test::expect_cpu_cuda_parity(
      [](const std::vector<Tensor>& v) {
        return roi_align_fpn({v[0], v[1], v[2], v[3]}, v[4], params(7, 7, 2, true));
      },
      {pyr.levels[0], pyr.levels[1], pyr.levels[2], pyr.levels[3], many}, 1e-4, 1e-5, {4});
}

// RoIs given on the host for CUDA features (as the detector gives them, to
// spare a copy back that waits for the stream): the same values and
// gradients, bit for bit, as the same RoIs given on the GPU.
TEST(RoiAlignCuda, RoisOnTheHostGiveWhatRoisOnTheGpuGive) {
  REQUIRE_CUDA();
  Rng rng(14);
  const Pyramid pyr = make_pyramid(rng, 2, 5, DType::F32);
  const Tensor rois = random_rois(rng, 40, 2, 320, 256);
  std::vector<Tensor> levels;
  for (int k = 0; k < 4; ++k) levels.push_back(pyr.levels[k].to(Device::CUDA).set_requires_grad());
  auto run = [&](const Tensor& r, bool fpn) {
    for (Tensor& l : levels) l.impl()->grad.reset();
    const Tensor y = fpn ? roi_align_fpn(levels, r, params(7, 7, 2, true)) : roi_align(levels[0], r, params(5, 3, 0, true, 0.25));
    sum(mul(y, y)).backward();
    std::vector<double> out = y.to(Device::CPU).to_vector();
    for (const Tensor& l : levels)
      if (l.grad().defined()) {
        const std::vector<double> g = l.grad().to(Device::CPU).to_vector();
        out.insert(out.end(), g.begin(), g.end());
      }
    return out;
  };
  for (bool fpn : {false, true}) {
    SCOPED_TRACE(fpn ? "roi_align_fpn" : "roi_align");
    const std::vector<double> from_host = run(rois, fpn), from_gpu = run(rois.to(Device::CUDA), fpn);
    EXPECT_EQ(from_host, from_gpu);
  }
}

TEST(RoiAlignCuda, NoRois) {
  REQUIRE_CUDA();
  Rng rng(14);
  Tensor x = randn({2, 3, 5, 4}, rng).to(Device::CUDA).set_requires_grad(true);
  Tensor y = roi_align(x, Tensor::zeros({0, 5}).to(Device::CUDA), params(7, 7, 2, true));
  EXPECT_EQ(y.shape(), (Shape{0, 3, 7, 7}));
  y.backward(Tensor::zeros({0, 3, 7, 7}).to(Device::CUDA));
  ASSERT_TRUE(x.grad().defined());
  for (double v : x.grad().to(Device::CPU).to_vector()) EXPECT_EQ(v, 0.0);
  const Pyramid pyr = make_pyramid(rng, 1, 3, DType::F32);
  std::vector<Tensor> levels;
  for (const Tensor& t : pyr.levels) levels.push_back(t.to(Device::CUDA));
  EXPECT_EQ(roi_align_fpn(levels, Tensor::zeros({0, 5}).to(Device::CUDA), params(7, 7, 2, true))
                .shape(),
            (Shape{0, 3, 7, 7}));
}

TEST(RoiAlignCuda, BackwardIsDeterministicAndAccumulates) {
  REQUIRE_CUDA();
  Rng rng(15);
  Tensor x = randn({2, 8, 40, 30}, rng).to(Device::CUDA).set_requires_grad(true);
  const Tensor rois = random_rois(rng, 64, 2, 120, 160).to(Device::CUDA);
  Tensor y = roi_align(x, rois, params(7, 7, 2, true, 0.25));
  const Tensor r = randn(y.shape(), rng).to(Device::CUDA);
  y.backward(r);
  const std::vector<double> once = x.grad().to(Device::CPU).to_vector();
  x.zero_grad();
  y.backward(r);
  EXPECT_EQ(once, x.grad().to(Device::CPU).to_vector()) << "the gather is deterministic: same bits";
  y.backward(r);  // accumulates on top
  std::vector<double> twice = once;
  for (double& v : twice) v *= 2;
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(twice, x.shape()), x.grad().to(Device::CPU), 1e-6, 1e-6);
}

TEST(RoiAlignCuda, Errors) {
  REQUIRE_CUDA();
  Tensor x = Tensor::zeros({2, 3, 8, 8}).to(Device::CUDA);
  Tensor rois = boxes({{1, 0, 0, 4, 4}}, DType::F32);
  const RoiAlignParams p = params(7, 7, 2, true);
  EXPECT_THROW(roi_align(x, rois, p), Error);  // rois on the CPU, features on CUDA
  EXPECT_THROW(roi_align(x.to(Device::CPU), rois.to(Device::CUDA), p), Error);
  EXPECT_NO_THROW(roi_align(x, rois.to(Device::CUDA), p));
  EXPECT_THROW(roi_align(x, boxes({{2, 0, 0, 4, 4}}, DType::F32).to(Device::CUDA), p), Error);
  std::vector<Tensor> levels{x, Tensor::zeros({2, 3, 4, 4})};  // one level on the CPU
  EXPECT_THROW(roi_align_fpn(levels, rois.to(Device::CUDA), p), Error);
}

}  // namespace
}  // namespace skinmtl
