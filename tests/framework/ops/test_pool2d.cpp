// max_pool2d, avg_pool2d, global_avg_pool2d: output sizes (floor and Caffe's
// ceil), forward values by hand (padding, ties, count_include_pad), float64
// gradient checks over several configurations, CPU-vs-CUDA parity, errors.
#include "kernels/pool2d.h"

#include <cmath>
#include <sstream>

#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::distinct64;
using test::uniform64;

Pool2dParams make(int kh, int kw, int sh, int sw, int ph, int pw, bool ceil_mode,
                  bool count_include_pad = true) {
  Pool2dParams p;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.ceil_mode = ceil_mode;
  p.count_include_pad = count_include_pad;
  return p;
}

Pool2dParams ceil_of(Pool2dParams p) {
  p.ceil_mode = true;
  return p;
}

// The configurations every gradient check and parity test runs.
std::vector<Pool2dParams> configs() {
  return {
      Pool2dParams::make(2, 2),                 // 2x2 stride 2
      Pool2dParams::make(3, 2, 1),              // ResNet pool1 (PyTorch): 3x3 s2 p1
      ceil_of(Pool2dParams::make(3, 2, 0)),     // ResNet pool1 (Caffe): 3x3 s2 p0 ceil
      Pool2dParams::make(3, 1, 1),              // overlapping, stride 1
      make(3, 2, 2, 1, 1, 0, true),             // non-square kernel and stride, ceil
      ceil_of(Pool2dParams::make(2, 2, 1)),     // ceil with padding
  };
}

std::string describe(const Pool2dParams& p) {
  std::ostringstream os;
  os << "kernel " << p.kernel_h << "x" << p.kernel_w << " stride " << p.stride_h << "x"
     << p.stride_w << " pad " << p.pad_h << "x" << p.pad_w << (p.ceil_mode ? " ceil" : " floor")
     << (p.count_include_pad ? " include_pad" : " exclude_pad");
  return os.str();
}

Tensor plane(const std::vector<double>& v, int64_t h, int64_t w) {
  return Tensor::from_vector(v, {1, 1, h, w}, DType::F64);
}

// ---- output sizes -------------------------------------------------------------

TEST(Pool2d, OutputSizeFloorAndCeil) {
  // ResNet-50 pool1 on a 112 x 112 map: Caffe's ceil gives 56, PyTorch's floor 55.
  EXPECT_EQ(pool2d_out_size(112, 3, 2, 0, true), 56);
  EXPECT_EQ(pool2d_out_size(112, 3, 2, 0, false), 55);
  // torchvision's padded pool1: 112 -> 56 in floor mode.
  EXPECT_EQ(pool2d_out_size(112, 3, 2, 1, false), 56);
  // The ceil rule's exception: in = 3, kernel 2, stride 2, pad 1. Plain ceil
  // gives ceil(3 / 2) + 1 = 3, but the third window would start at 3 = in,
  // past the input and its left padding, so it is dropped: 2 (as PyTorch).
  EXPECT_EQ(pool2d_out_size(3, 2, 2, 1, true), 2);
  EXPECT_EQ(pool2d_out_size(3, 2, 2, 1, false), 2);
  // A case where ceil does add a window: 4, kernel 3, stride 2, pad 1 -> 3 (floor 2).
  EXPECT_EQ(pool2d_out_size(4, 3, 2, 1, true), 3);
  EXPECT_EQ(pool2d_out_size(4, 3, 2, 1, false), 2);

  Tensor x = Tensor::zeros({1, 2, 112, 112});
  EXPECT_EQ(max_pool2d(x, ceil_of(Pool2dParams::make(3, 2))).shape(), (Shape{1, 2, 56, 56}));
  EXPECT_EQ(max_pool2d(x, Pool2dParams::make(3, 2)).shape(), (Shape{1, 2, 55, 55}));
  EXPECT_EQ(avg_pool2d(x, ceil_of(Pool2dParams::make(3, 2))).shape(), (Shape{1, 2, 56, 56}));
  // Non-square: H 7, W 10, kernel 3x2, stride 2x3, pad 1x0, ceil:
  // H: ceil((7 + 2 - 3) / 2) + 1 = 4; W: ceil((10 - 2) / 3) + 1 = 4.
  EXPECT_EQ(max_pool2d(Tensor::zeros({2, 1, 7, 10}), make(3, 2, 2, 3, 1, 0, true)).shape(),
            (Shape{2, 1, 4, 4}));
}

// ---- max pooling ----------------------------------------------------------------

TEST(MaxPool2d, ForwardAndBackwardByHand) {
  Tensor x = plane({1, 5, 2, 0,    //
                    3, 4, 8, 7,    //
                    9, -1, 6, 6,   //
                    2, 0, -3, 10},
                   4, 4)
                 .set_requires_grad(true);
  Tensor y = max_pool2d(x, Pool2dParams::make(2, 2));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{5, 8, 9, 10}));
  y.backward(plane({1, 2, 3, 4}, 2, 2));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 1, 0, 0,  //
                                                       0, 0, 2, 0,  //
                                                       3, 0, 0, 0,  //
                                                       0, 0, 0, 4}));
}

TEST(MaxPool2d, OverlappingWindowsAccumulate) {
  // 3x3 stride 1 on 3x4: the 9 sits in both windows; its gradient is the sum.
  Tensor x = plane({1, 2, 3, 4,  //
                    5, 6, 9, 0,  //
                    1, 1, 1, 1},
                   3, 4)
                 .set_requires_grad(true);
  Tensor y = max_pool2d(x, Pool2dParams::make(3, 1));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{9, 9}));
  y.backward(plane({0.5, 2.0}, 1, 2));
  std::vector<double> want(12, 0.0);
  want[6] = 2.5;
  EXPECT_EQ(x.grad().to_vector(), want);
}

TEST(MaxPool2d, PaddingActsAsMinusInfinity) {
  // All inputs negative: zero padding would win; -infinity padding never does.
  Tensor x = plane({-5, -4, -3, -2, -1, -6, -7, -8, -9}, 3, 3);
  Tensor y = max_pool2d(x, Pool2dParams::make(3, 2, 1));
  // Windows (rows x cols, clipped): [0,2)x[0,2), [0,2)x[1,3), [1,3)x[0,2), [1,3)x[1,3).
  EXPECT_EQ(y.to_vector(), (std::vector<double>{-1, -1, -1, -1}));
  Tensor y2 = max_pool2d(x, Pool2dParams::make(2, 2, 1));
  // 2x2 stride 2 pad 1 on 3x3 -> 2x2: windows [0,1)x[0,1), [0,1)x[1,3), [1,3)x[0,1), [1,3)x[1,3).
  EXPECT_EQ(y2.to_vector(), (std::vector<double>{-5, -3, -2, -1}));
}

TEST(MaxPool2d, TiesGoToTheFirstMaximumInScanOrder) {
  // All equal: every window's gradient goes to its first (top-left) element.
  Tensor x = Tensor::ones({1, 1, 3, 3}, DType::F64).set_requires_grad(true);
  Tensor y = max_pool2d(x, Pool2dParams::make(2, 1));
  y.backward(Tensor::ones({1, 1, 2, 2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 1, 0, 1, 1, 0, 0, 0, 0}));
  // A tie between a later row and an earlier one: row-major scan, the earlier wins.
  Tensor z = plane({0, 7, 7, 0}, 2, 2).set_requires_grad(true);
  max_pool2d(z, Pool2dParams::make(2, 2)).backward(plane({1}, 1, 1));
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{0, 1, 0, 0}));
}

TEST(MaxPool2d, NaNPropagates) {
  const double nan = std::nan("");
  Tensor y = max_pool2d(plane({1, nan, 3, 2}, 2, 2), Pool2dParams::make(2, 2));
  EXPECT_TRUE(std::isnan(y.to_vector()[0]));
}

TEST(MaxPool2d, GradCheck) {
  Rng rng(41);
  for (const Pool2dParams& p : configs()) {
    SCOPED_TRACE(describe(p));
    // Distinct, well separated values: no ties, so no kinks.
    EXPECT_GRADCHECK([p](const std::vector<Tensor>& x) { return max_pool2d(x[0], p); },
                     {distinct64({2, 3, 7, 9}, rng, -3.0, 0.05)});
  }
}

// ---- average pooling -------------------------------------------------------------

TEST(AvgPool2d, PaddedCornerByHand) {
  // 1..9 on 3x3, 3x3 stride 2 pad 1 -> 2x2. The top-left window covers rows and
  // columns -1..1: real elements 1 2 4 5 (sum 12) of 9 positions.
  Tensor x = plane({1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3);
  Pool2dParams p = Pool2dParams::make(3, 2, 1);
  // Window sums: 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9.
  EXPECT_TENSORS_CLOSE(plane({12.0 / 9, 16.0 / 9, 24.0 / 9, 28.0 / 9}, 2, 2), avg_pool2d(x, p),
                       1e-12, 1e-12);
  p.count_include_pad = false;
  EXPECT_TENSORS_CLOSE(plane({3, 4, 6, 7}, 2, 2), avg_pool2d(x, p), 1e-12, 1e-12);
}

TEST(AvgPool2d, CeilModeWindowBeyondThePadding) {
  // 4x4, 3x3 stride 2 pad 1, ceil -> 3x3. The last window along each axis
  // starts at 3 and would end at 6, beyond the padded input [-1, 5): PyTorch
  // divides by the part inside the padded input, 2 x 2 = 4, when counting
  // padding; by the single real element (x[3][3] = 16) when not.
  std::vector<double> v(16);
  for (int i = 0; i < 16; ++i) v[i] = i + 1;
  Tensor x = plane(v, 4, 4);
  Pool2dParams p = ceil_of(Pool2dParams::make(3, 2, 1));
  Tensor y = avg_pool2d(x, p);
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  EXPECT_DOUBLE_EQ(y.to_vector()[8], 16.0 / 4);
  // Top-left: real 1 2 5 6 over the full 3x3 window.
  EXPECT_DOUBLE_EQ(y.to_vector()[0], 14.0 / 9);
  // Top-right: rows -1..1 (3 padded positions), columns 3..5 (2 inside the
  // padded input): real 4 and 8 over 3 x 2.
  EXPECT_DOUBLE_EQ(y.to_vector()[2], 12.0 / 6);
  p.count_include_pad = false;
  Tensor z = avg_pool2d(x, p);
  EXPECT_DOUBLE_EQ(z.to_vector()[8], 16.0);
  EXPECT_DOUBLE_EQ(z.to_vector()[0], 14.0 / 4);
  EXPECT_DOUBLE_EQ(z.to_vector()[2], 12.0 / 2);
}

TEST(AvgPool2d, BackwardByHand) {
  // 2x2 stride 1 on 2x3, no padding: outputs 1x2; the middle column is in both.
  Tensor x = Tensor::zeros({1, 1, 2, 3}, DType::F64).set_requires_grad(true);
  avg_pool2d(x, Pool2dParams::make(2, 1)).backward(plane({4, 8}, 1, 2));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 3, 2, 1, 3, 2}));
}

TEST(AvgPool2d, GradCheck) {
  Rng rng(42);
  for (bool cip : {true, false})
    for (Pool2dParams p : configs()) {
      p.count_include_pad = cip;
      SCOPED_TRACE(describe(p));
      EXPECT_GRADCHECK([p](const std::vector<Tensor>& x) { return avg_pool2d(x[0], p); },
                       {uniform64({2, 3, 7, 9}, rng)});
    }
}

// ---- global average pooling ------------------------------------------------------

TEST(GlobalAvgPool2d, ForwardAndBackwardByHand) {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6,  //
                                                     -1, -1, -1, 5, 5, 5},
                                 {1, 2, 2, 3}, DType::F64)
                 .set_requires_grad(true);
  Tensor y = global_avg_pool2d(x);
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(std::vector<double>{3.5, 2.0}, {1, 2}, DType::F64), y,
                       1e-12, 1e-12);
  y.backward(Tensor::from_vector(std::vector<double>{6, -12}, {1, 2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 1, 1, 1, 1, 1, -2, -2, -2, -2, -2, -2}));
}

TEST(GlobalAvgPool2d, GradCheck) {
  Rng rng(43);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return global_avg_pool2d(x[0]); },
                   {uniform64({3, 4, 5, 7}, rng)});
}

// ---- errors ------------------------------------------------------------------------

TEST(Pool2d, Errors) {
  Tensor x = Tensor::zeros({2, 3, 8, 8});
  EXPECT_THROW(max_pool2d(Tensor::zeros({3, 8, 8}), Pool2dParams::make(2, 2)), Error);  // 3-D
  EXPECT_THROW(avg_pool2d(Tensor::zeros({3, 8, 8}), Pool2dParams::make(2, 2)), Error);
  EXPECT_THROW(global_avg_pool2d(Tensor::zeros({2, 3})), Error);
  EXPECT_THROW(global_avg_pool2d(Tensor::zeros({2, 3, 0, 4})), Error);  // empty plane
  EXPECT_THROW(max_pool2d(x, Pool2dParams::make(0, 1)), Error);     // kernel 0
  EXPECT_THROW(max_pool2d(x, Pool2dParams::make(2, 0)), Error);     // stride 0
  EXPECT_THROW(max_pool2d(x, Pool2dParams::make(2, 2, 2)), Error);  // pad > kernel / 2
  EXPECT_THROW(avg_pool2d(x, Pool2dParams::make(3, 1, -1)), Error); // negative pad
  EXPECT_THROW(max_pool2d(x, Pool2dParams::make(9, 1)), Error);     // kernel > input
  EXPECT_THROW(avg_pool2d(x, make(3, 9, 1, 1, 0, 0, false)), Error);
  EXPECT_NO_THROW(max_pool2d(x, Pool2dParams::make(9, 1, 1)));      // fits with padding
}

// ---- CUDA --------------------------------------------------------------------------

TEST(Pool2dCuda, MaxPoolParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(51);
  for (const Pool2dParams& p : configs()) {
    SCOPED_TRACE(describe(p));
    test::expect_cpu_cuda_parity([p](const std::vector<Tensor>& x) { return max_pool2d(x[0], p); },
                                 {randn({3, 5, 13, 7}, rng)}, 0, 0);
  }
}

TEST(Pool2dCuda, MaxPoolTiesAgree) {
  REQUIRE_CUDA();
  Rng rng(52);
  // Values in {0, 1, 2}: most windows hold ties; CPU and CUDA must pick the
  // same (first) maximum, so the gradients agree exactly.
  Tensor x = rand_uniform({3, 5, 13, 7}, rng, 0.0, 3.0);
  std::vector<double> v = x.to_vector();
  for (double& e : v) e = std::floor(e);
  Tensor xt = Tensor::from_vector(v, x.shape());
  for (const Pool2dParams& p : configs()) {
    SCOPED_TRACE(describe(p));
    test::expect_cpu_cuda_parity([p](const std::vector<Tensor>& x) { return max_pool2d(x[0], p); },
                                 {xt}, 0, 0);
  }
}

TEST(Pool2dCuda, AvgPoolParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(53);
  for (bool cip : {true, false})
    for (Pool2dParams p : configs()) {
      p.count_include_pad = cip;
      SCOPED_TRACE(describe(p));
      test::expect_cpu_cuda_parity(
          [p](const std::vector<Tensor>& x) { return avg_pool2d(x[0], p); },
          {randn({3, 5, 13, 7}, rng)}, 1e-6, 1e-6);
    }
}

TEST(Pool2dCuda, GlobalAvgPoolParity) {
  REQUIRE_CUDA();
  Rng rng(54);
  auto f = [](const std::vector<Tensor>& x) { return global_avg_pool2d(x[0]); };
  test::expect_cpu_cuda_parity(f, {randn({3, 5, 13, 7}, rng)}, 1e-6, 1e-6);
  test::expect_cpu_cuda_parity(f, {randn({4, 2048, 7, 7}, rng)}, 1e-6, 1e-6);  // ResNet-50
}

TEST(Pool2dCuda, LargeTensorsCoverTheGridStride) {
  REQUIRE_CUDA();
  Rng rng(55);
  // 2 * 8 * 1025 * 1025 input elements: more than one capped grid covers.
  Tensor x = randn({2, 8, 1025, 1025}, rng);
  Pool2dParams p = Pool2dParams::make(3, 1, 1);  // as many outputs as inputs
  test::expect_cpu_cuda_parity([p](const std::vector<Tensor>& v) { return max_pool2d(v[0], p); },
                               {x}, 0, 0);
  test::expect_cpu_cuda_parity([p](const std::vector<Tensor>& v) { return avg_pool2d(v[0], p); },
                               {x}, 1e-5, 1e-5);
  test::expect_cpu_cuda_parity(
      [](const std::vector<Tensor>& v) { return global_avg_pool2d(v[0]); }, {x}, 1e-4, 1e-4);
}

}  // namespace
}  // namespace skinmtl
