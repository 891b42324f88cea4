// conv2d: hand-computed values, a naive direct-convolution reference, float64
// gradient checks, CPU-vs-CUDA parity for both CUDA backends, and errors.
#include <cmath>
#include <cstdio>
#include <string>

#include "kernels/conv2d.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::naive_conv2d;
using test::uniform64;

Conv2dParams params(int sh, int sw, int ph, int pw, int dh = 1, int dw = 1) {
  return Conv2dParams{sh, sw, ph, pw, dh, dw};
}

struct Config {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  bool bias;
};

// Odd, non-square shapes covering every code path: padding, strides,
// dilations (also per axis), non-square kernels, the 1x1 shortcut (col == x)
// and 1x1 with stride 2 (ResNet v1 downsampling), padding wider than the kernel.
const std::vector<Config>& configs() {
  static const std::vector<Config> c = {
      {"3x3 s1 p1", {2, 3, 7, 6}, {4, 3, 3, 3}, params(1, 1, 1, 1), true},
      {"3x3 s2 p1", {2, 3, 9, 8}, {2, 3, 3, 3}, params(2, 2, 1, 1), false},
      {"3x2 s(2,1) p(2,0) d(2,3)", {1, 2, 9, 10}, {3, 2, 3, 2}, params(2, 1, 2, 0, 2, 3), true},
      {"3x3 d2 p2", {2, 2, 8, 7}, {3, 2, 3, 3}, params(1, 1, 2, 2, 2, 2), false},
      {"3x1 s(1,2) p(1,0)", {2, 3, 8, 11}, {2, 3, 3, 1}, params(1, 2, 1, 0), false},
      {"1x7 p(0,3)", {1, 2, 5, 13}, {3, 2, 1, 7}, params(1, 1, 0, 3), true},
      {"7x7 s2 p3", {2, 3, 11, 9}, {4, 3, 7, 7}, params(2, 2, 3, 3), true},
      {"1x1 s2", {2, 4, 7, 9}, {3, 4, 1, 1}, params(2, 2, 0, 0), false},
      {"1x1 s1 (shortcut)", {2, 4, 5, 6}, {3, 4, 1, 1}, params(1, 1, 0, 0), true},
      {"1x1 s1 d2 (shortcut)", {1, 3, 4, 5}, {2, 3, 1, 1}, params(1, 1, 0, 0, 2, 2), false},
      {"1x1 s(2,1) (no shortcut)", {2, 3, 5, 4}, {2, 3, 1, 1}, params(2, 1, 0, 0), true},
      {"1x1 p(0,1) (no shortcut)", {1, 3, 4, 3}, {2, 3, 1, 1}, params(1, 1, 0, 1), false},
      {"2x2 p3 (pad > kernel)", {1, 2, 3, 4}, {2, 2, 2, 2}, params(1, 1, 3, 3), true},
      {"whole-image 3x3", {2, 2, 3, 3}, {3, 2, 3, 3}, params(1, 1, 0, 0), true},
      {"3x3 s1 p1, batch 5", {5, 3, 4, 5}, {4, 3, 3, 3}, params(1, 1, 1, 1), true},
      {"1x1 s1 (shortcut), batch 5", {5, 4, 4, 5}, {3, 4, 1, 1}, params(1, 1, 0, 0), false},
  };
  return c;
}

std::vector<Tensor> make_inputs(const Config& c, Rng& rng) {
  return {uniform64(c.x, rng), uniform64(c.w, rng), c.bias ? uniform64({c.w[0]}, rng) : Tensor()};
}

// ---- forward values ------------------------------------------------------------

TEST(Conv2d, ForwardHandComputed) {
  // x = [[1 2 3], [4 5 6], [7 8 9]], w = [[1 2], [3 4]], bias 0.5.
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3},
                                 DType::F64);
  Tensor w = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {1, 1, 2, 2}, DType::F64);
  Tensor b = Tensor::from_vector(std::vector<double>{0.5}, {1}, DType::F64);
  // Stride 1, no padding: 1*1 + 2*2 + 4*3 + 5*4 = 37, then 47, 67, 77.
  Tensor y = conv2d(x, w, b, Conv2dParams{});
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{37.5, 47.5, 67.5, 77.5}));
  // Stride 2, padding 1: the windows start at (-1, -1), (-1, 1), (1, -1), (1, 1):
  //   1*4 = 4;  2*3 + 3*4 = 18;  4*2 + 7*4 = 36;  5*1 + 6*2 + 8*3 + 9*4 = 77.
  Tensor y2 = conv2d(x, w, Tensor(), Conv2dParams::make(2, 1));
  EXPECT_EQ(y2.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y2.to_vector(), (std::vector<double>{4, 18, 36, 77}));
  // The same in float32 (exact: small integers).
  Tensor y3 = conv2d(x.to(DType::F32), w.to(DType::F32), Tensor(), Conv2dParams::make(2, 1));
  EXPECT_EQ(y3.dtype(), DType::F32);
  EXPECT_EQ(y3.to_vector(), (std::vector<double>{4, 18, 36, 77}));
}

TEST(Conv2d, ForwardMatchesNaiveLoop) {
  Rng rng(21);
  for (const Config& c : configs()) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> in = make_inputs(c, rng);
    Tensor y = conv2d(in[0], in[1], in[2], c.p);
    EXPECT_TENSORS_CLOSE(naive_conv2d(in[0], in[1], in[2], c.p), y, 1e-12, 1e-12);
  }
}

TEST(Conv2d, ForwardFloat32MatchesFloat64) {
  Rng rng(22);
  for (const Config& c : configs()) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> in = make_inputs(c, rng);
    Tensor y64 = conv2d(in[0], in[1], in[2], c.p);
    Tensor y32 = conv2d(in[0].to(DType::F32), in[1].to(DType::F32),
                        c.bias ? in[2].to(DType::F32) : Tensor(), c.p);
    EXPECT_TENSORS_CLOSE(y64, y32.to(DType::F64), 1e-5, 1e-5);
  }
}

TEST(Conv2d, OutputSizeIsPyTorchs) {
  auto out_shape = [&](Shape xs, Shape ws, Conv2dParams p) {
    return conv2d(Tensor::zeros(xs), Tensor::zeros(ws), Tensor(), p).shape();
  };
  // ResNet-50 conv1: 224 -> 112 with 7x7 s2 p3; 1x1 s2 downsampling 56 -> 28.
  EXPECT_EQ(out_shape({1, 3, 224, 224}, {2, 3, 7, 7}, Conv2dParams::make(2, 3)),
            (Shape{1, 2, 112, 112}));
  EXPECT_EQ(out_shape({1, 4, 56, 56}, {2, 4, 1, 1}, Conv2dParams::make(2, 0)),
            (Shape{1, 2, 28, 28}));
  // Rounding down: (8 + 2 - 2 - 1) / 2 + 1 = 4 and (7 + 2 - 2 - 1) / 2 + 1 = 4.
  EXPECT_EQ(out_shape({1, 1, 8, 7}, {1, 1, 3, 3}, Conv2dParams::make(2, 1)), (Shape{1, 1, 4, 4}));
  // Dilation: effective kernel (3 - 1) * 3 + 1 = 7; 10 - 7 + 1 = 4 rows; width
  // (9 + 2 - 3 * 1 - 1) / 2 + 1 = 4.
  EXPECT_EQ(out_shape({2, 1, 10, 9}, {3, 1, 3, 2}, params(1, 2, 0, 1, 3, 3)),
            (Shape{2, 3, 4, 4}));
  // Helper used by the framework: a kernel that does not fit gives 0.
  EXPECT_EQ(conv2d_out_size(3, 5, 2, 0, 1), 0);
  EXPECT_EQ(conv2d_out_size(3, 5, 2, 1, 1), 1);
}

TEST(Conv2d, EmptyBatch) {
  Tensor y = conv2d(Tensor::zeros({0, 3, 5, 5}), Tensor::zeros({2, 3, 3, 3}), Tensor::zeros({2}),
                    Conv2dParams::make(1, 1));
  EXPECT_EQ(y.shape(), (Shape{0, 2, 5, 5}));
}

// ---- gradients -----------------------------------------------------------------

TEST(Conv2d, GradCheck) {
  Rng rng(31);
  for (const Config& c : configs()) {
    SCOPED_TRACE(c.name);
    const Conv2dParams p = c.p;
    EXPECT_GRADCHECK(
        [p](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], p); },
        make_inputs(c, rng));
  }
}

// Each input alone: the kernels must skip the gradients nobody asked for and
// still get the others right.
TEST(Conv2d, GradCheckOneInputAtATime) {
  Rng rng(32);
  const Config c{"3x3 s2 p1", {2, 3, 7, 6}, {2, 3, 3, 3}, params(2, 2, 1, 1), true};
  const Conv2dParams p = c.p;
  auto f = [p](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], p); };
  EXPECT_GRADCHECK(f, make_inputs(c, rng), test::GradCheckOptions{}, {1, 2});  // x only
  EXPECT_GRADCHECK(f, make_inputs(c, rng), test::GradCheckOptions{}, {0, 2});  // w only
  EXPECT_GRADCHECK(f, make_inputs(c, rng), test::GradCheckOptions{}, {0, 1});  // bias only
}

// x feeds two convolutions (a 3x3 through im2col/col2im and a 1x1 through the
// shortcut), w feeds two: their gradient buffers receive two contributions
// each, which only come out right if every backward kernel accumulates.
TEST(Conv2d, GradCheckSharedInputsAccumulate) {
  Rng rng(33);
  auto f = [](const std::vector<Tensor>& v) {
    Tensor a = conv2d(v[0], v[1], v[2], Conv2dParams::make(1, 1));  // 3x3 p1: same size
    Tensor b = conv2d(v[0], v[3], Tensor(), Conv2dParams{});       // 1x1 shortcut
    Tensor c = conv2d(v[4], v[1], v[2], Conv2dParams::make(1, 1));  // w and bias again
    return add(add(a, b), c);
  };
  EXPECT_GRADCHECK(f, {uniform64({2, 3, 5, 4}, rng), uniform64({2, 3, 3, 3}, rng),
                       uniform64({2}, rng), uniform64({2, 3, 1, 1}, rng),
                       uniform64({2, 3, 5, 4}, rng)});
}

// Two backward passes without zeroing: every leaf gradient doubles.
TEST(Conv2d, BackwardAccumulatesIntoLeafGradients) {
  Rng rng(34);
  for (const Config& c : configs()) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> in = make_inputs(c, rng);
    for (Tensor& t : in)
      if (t.defined()) t.set_requires_grad(true);
    Tensor y = conv2d(in[0], in[1], in[2], c.p);
    Tensor r = uniform64(y.shape(), rng);
    y.backward(r);
    std::vector<Tensor> once;
    for (Tensor& t : in) once.push_back(t.defined() ? t.grad().clone() : Tensor());
    conv2d(in[0], in[1], in[2], c.p).backward(r);
    for (size_t i = 0; i < in.size(); ++i) {
      if (!in[i].defined()) continue;
      EXPECT_TENSORS_CLOSE(scale(once[i], 2.0), in[i].grad(), 1e-12, 1e-12) << "input " << i;
    }
  }
}

// ---- the CPU's batched GEMMs -----------------------------------------------------
// conv2d_cpu_images_per_gemm groups images where the output is small. Every
// config goes through three settings: one image per GEMM, groups of two with a
// last group of one for the batch-5 configs (P*Q = 20, at most 40 columns), and
// the whole batch in one GEMM.

class Grouping {  // the setting for one scope
 public:
  explicit Grouping(Conv2dCpuGrouping g) : old_(conv2d_cpu_grouping()) { set_conv2d_cpu_grouping(g); }
  ~Grouping() { set_conv2d_cpu_grouping(old_); }

 private:
  Conv2dCpuGrouping old_;
};

const Conv2dCpuGrouping kGroupings[] = {{0, 1}, {1000, 40}, {1000, 1 << 30}};
std::string grouping_str(const Conv2dCpuGrouping& g) {
  return "grouping below " + std::to_string(g.small_output) + " px, at most " +
         std::to_string(g.max_columns) + " columns";
}

TEST(Conv2d, ImagesPerGemm) {
  auto shape = [](int N, int P, int Q) {
    Conv2dShape sh;
    sh.N = N, sh.C = 3, sh.K = 4, sh.R = sh.S = 3, sh.P = P, sh.Q = Q;
    return sh;
  };
  {
    Grouping g({128, 2048});
    EXPECT_EQ(conv2d_cpu_images_per_gemm(shape(8, 4, 5)), 8);    // 20 px: the whole batch
    EXPECT_EQ(conv2d_cpu_images_per_gemm(shape(20, 7, 7)), 20);  // 49 px: 980 columns
    EXPECT_EQ(conv2d_cpu_images_per_gemm(shape(64, 7, 7)), 32);  // 41 fit: 2 groups of 32
    EXPECT_EQ(conv2d_cpu_images_per_gemm(shape(20, 14, 14)), 1);  // 196 px: one image each
    EXPECT_EQ(conv2d_cpu_images_per_gemm(shape(1, 4, 5)), 1);
    // 8 images of 20 px: col (27, 8*20) and the product (4, 8*20).
    EXPECT_EQ(conv2d_cpu_im2col_scratch_elems(shape(8, 4, 5)), (27 + 4) * 8 * 20);
    EXPECT_EQ(conv2d_cpu_im2col_scratch_elems(shape(20, 14, 14)), 27 * 14 * 14);
  }
  {
    Grouping g({1000, 40});
    EXPECT_EQ(conv2d_cpu_images_per_gemm(shape(5, 4, 5)), 2);   // groups 2, 2, 1
    EXPECT_EQ(conv2d_cpu_images_per_gemm(shape(5, 9, 9)), 1);   // 81 px > 40 columns: one each
  }
  Grouping g({0, 1 << 30});
  EXPECT_EQ(conv2d_cpu_images_per_gemm(shape(8, 1, 1)), 1);
}

TEST(Conv2d, BatchedGemmsMatchNaiveLoop) {
  for (const Conv2dCpuGrouping& setting : kGroupings) {
    Grouping g(setting);
    Rng rng(23);
    for (const Config& c : configs()) {
      SCOPED_TRACE(std::string(c.name) + ", " + grouping_str(setting));
      std::vector<Tensor> in = make_inputs(c, rng);
      EXPECT_TENSORS_CLOSE(naive_conv2d(in[0], in[1], in[2], c.p), conv2d(in[0], in[1], in[2], c.p),
                           1e-12, 1e-12);
    }
  }
}

TEST(Conv2d, BatchedGemmsGradCheck) {
  for (const Conv2dCpuGrouping& setting : kGroupings) {
    Grouping g(setting);
    Rng rng(35);
    for (const Config& c : configs()) {
      if (c.x[0] < 5) continue;  // the batch-5 configs; GradCheck covers the others
      SCOPED_TRACE(std::string(c.name) + ", " + grouping_str(setting));
      const Conv2dParams p = c.p;
      EXPECT_GRADCHECK(
          [p](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], p); },
          make_inputs(c, rng));
    }
  }
}

// ---- errors ------------------------------------------------------------------

// Throws skinmtl::Error whose message names the op and contains `what`.
void expect_conv2d_error(const std::function<void()>& f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no error thrown (expected one mentioning '" << what << "')";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv2d"), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(Conv2d, Errors) {
  Tensor x = Tensor::zeros({2, 3, 5, 5}), w = Tensor::zeros({4, 3, 3, 3});
  const Conv2dParams p = Conv2dParams::make(1, 1);
  expect_conv2d_error([&] { conv2d(Tensor::zeros({3, 5, 5}), w, Tensor(), p); }, "(3, 5, 5)");
  expect_conv2d_error([&] { conv2d(x, Tensor::zeros({4, 3, 9}), Tensor(), p); }, "(4, 3, 9)");
  expect_conv2d_error([&] { conv2d(x, Tensor::zeros({4, 2, 3, 3}), Tensor(), p); },
                      "(4, 2, 3, 3)");
  expect_conv2d_error([&] { conv2d(x, w, Tensor::zeros({3}), p); }, "(3,)");
  expect_conv2d_error([&] { conv2d(x, w, Tensor::zeros({1, 4}), p); }, "(1, 4)");
  // A 7x7 kernel does not fit in 5x5 padded by 0.
  expect_conv2d_error(
      [&] { conv2d(x, Tensor::zeros({4, 3, 7, 7}), Tensor(), Conv2dParams{}); }, "(4, 3, 7, 7)");
  // Nor a 3x3 kernel dilated by 3 (extent 7).
  expect_conv2d_error([&] { conv2d(x, w, Tensor(), Conv2dParams::make(1, 0, 3)); },
                      "dilation (3, 3)");
  expect_conv2d_error([&] { conv2d(x, w, Tensor(), Conv2dParams::make(0, 1)); }, "stride (0, 0)");
  expect_conv2d_error([&] { conv2d(x, w, Tensor(), params(1, 1, -1, 0)); }, "padding (-1, 0)");
  expect_conv2d_error([&] { conv2d(x, w, Tensor(), params(1, 1, 0, 0, 1, 0)); },
                      "dilation (1, 0)");
  // dtypes must agree.
  expect_conv2d_error([&] { conv2d(x, Tensor::zeros({4, 3, 3, 3}, DType::F64), Tensor(), p); },
                      "float64");
  expect_conv2d_error([&] { conv2d(x, w, Tensor::zeros({4}, DType::F64), p); }, "float64");
  expect_conv2d_error([&] { conv2d(Tensor(), w, Tensor(), p); }, "defined");
}

TEST(Conv2d, BackendSettingRoundTrips) {
  const ConvBackend prev = conv_backend();
  for (ConvBackend b : {ConvBackend::Im2col, ConvBackend::CuDNN, ConvBackend::CuDNNGraph, ConvBackend::Auto}) {
    set_conv_backend(b);
    EXPECT_EQ(conv_backend(), b);
  }
  set_conv_backend(prev);
}

// ---- CUDA --------------------------------------------------------------------

// Restores the backend setting when a test ends, however it ends.
class BackendGuard {
 public:
  BackendGuard() : prev_(conv_backend()) {}
  ~BackendGuard() { set_conv_backend(prev_); }

 private:
  ConvBackend prev_;
};

const char* backend_name(ConvBackend b) {
  return b == ConvBackend::CuDNN        ? "cuDNN"
         : b == ConvBackend::CuDNNGraph ? "cuDNN graph API"
         : b == ConvBackend::Im2col     ? "im2col"
                                        : "auto";
}

// Every CUDA implementation: cuDNN through its legacy and its graph API, and
// im2col + cuBLAS.
const ConvBackend kCudaBackends[] = {ConvBackend::CuDNN, ConvBackend::CuDNNGraph, ConvBackend::Im2col};

// CPU (float32) vs CUDA, forward and all gradients, on each CUDA backend.
// The two sum in different orders; with randn inputs a sum of n products has
// float rounding of order 1e-7 * n, so 1e-4 suits the small layers.
void expect_parity_every_backend(const Shape& xs, const Shape& ws, const Conv2dParams& p,
                                 bool bias, uint64_t seed, double tol = 1e-4) {
  for (ConvBackend b : kCudaBackends) {
    SCOPED_TRACE(backend_name(b));
    BackendGuard guard;
    set_conv_backend(b);
    Rng rng(seed);
    std::vector<Tensor> in = {randn(xs, rng), randn(ws, rng),
                              bias ? randn({ws[0]}, rng) : Tensor()};
    test::expect_cpu_cuda_parity(
        [p](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], p); }, in, tol, tol);
  }
}

// For layers whose sums are long, a fixed tolerance between two float32
// results is either loose enough to hide a lower-precision engine or tight
// enough to fail on an honest float32 one. So each CUDA result, the output y
// and the gradients dx and dw, is held instead against the float64 truth,
// within the probabilistic bound for a float32 sum of n products t_k
// (Higham & Mary, SIAM J. Sci. Comput. 2019), whatever the order of the sum:
//
//     |computed - exact| <= lambda * sqrt(n) * u * sum_k |t_k|,   u = 2^-24,
//
// which fails with probability at most 2 exp(-lambda^2 / 2) per element; with
// lambda = 8, about 1e-14. The sums of |t_k| are the same convolution and
// gradients in float64 with every input replaced by its absolute value.
// Rounding to TF32 (u = 2^-11) or to a half type is thousands of times
// larger, and a wrong index far more than that. Each result's worst ratio
// error / (sqrt(n) u sum|t|), i.e. its lambda, is printed.
// `cuda`: each CUDA backend, else the CPU's float32 path.
void expect_within_float32_bound(const Shape& xs, const Shape& ws, const Conv2dParams& p, uint64_t seed,
                                 bool cuda = true) {
  Rng rng(seed);
  const Tensor x = randn(xs, rng), w = randn(ws, rng), b = randn({ws[0]}, rng);
  const Shape ys = conv2d(x, w, b, p).shape();
  const Tensor r = rand_uniform(ys, rng, -1.0, 1.0);
  auto abs_of = [](const Tensor& t) {
    std::vector<double> v = t.to_vector();
    for (double& e : v) e = std::fabs(e);
    return Tensor::from_vector(v, t.shape(), DType::F64);
  };
  // y, dx, dw of conv2d(x, w, b) with upstream gradient r, as float64 on the CPU.
  auto run64 = [&](const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& r0) {
    Tensor xv = x0.clone().set_requires_grad(), wv = w0.clone().set_requires_grad();
    Tensor y = conv2d(xv, wv, b0, p);
    y.backward(r0);
    return std::vector<std::vector<double>>{y.to_vector(), xv.grad().to_vector(), wv.grad().to_vector()};
  };
  const auto exact = run64(x.to(DType::F64), w.to(DType::F64), b.to(DType::F64), r.to(DType::F64));
  const auto magnitude = run64(abs_of(x), abs_of(w), abs_of(b), abs_of(r));
  // The products in each sum: y's C*R*S (and the bias), dx's K*R*S at most, dw's N*P*Q.
  const double n[3] = {(double)(ws[1] * ws[2] * ws[3] + 1), (double)(ws[0] * ws[2] * ws[3]),
                       (double)(ys[0] * ys[2] * ys[3])};
  const char* names[3] = {"y", "dx", "dw"};
  const double u = std::ldexp(1.0, -24), lambda = 8;
  // Runs the layer in float32 on `device` (the backend set) and holds each result to the bound.
  auto check = [&](const char* name, Device device) {
    SCOPED_TRACE(name);
    Tensor xg = x.to(device).set_requires_grad(), wg = w.to(device).set_requires_grad();
    Tensor y = conv2d(xg, wg, b.to(device), p);
    y.backward(r.to(device));
    const std::vector<double> got[3] = {y.to(Device::CPU).to_vector(), xg.grad().to(Device::CPU).to_vector(),
                                        wg.grad().to(Device::CPU).to_vector()};
    for (int k = 0; k < 3; ++k) {
      ASSERT_EQ(got[k].size(), exact[k].size());
      double worst = 0;
      size_t at = 0;
      for (size_t i = 0; i < got[k].size(); ++i) {
        const double ratio = std::fabs(got[k][i] - exact[k][i]) / (std::sqrt(n[k]) * u * magnitude[k][i] + 1e-300);
        if (ratio > worst) worst = ratio, at = i;
      }
      std::printf("  %s, %s: at most %.3f sqrt(n) u sum|t| from the exact (n %.0f; worst: element %zu, %.9g, exact %.9g)\n", name,
                  names[k], worst, n[k], at, got[k][at], exact[k][at]);
      EXPECT_LE(worst, lambda) << names[k] << ", element " << at << ": " << got[k][at] << ", exact " << exact[k][at];
    }
  };
  if (!cuda) return check("CPU", Device::CPU);
  for (ConvBackend backend : kCudaBackends) {
    BackendGuard guard;
    set_conv_backend(backend);
    check(backend_name(backend), Device::CUDA);
  }
}

TEST(Conv2dCuda, Parity3x3Stride2Pad1) {
  REQUIRE_CUDA();
  expect_parity_every_backend({3, 5, 11, 9}, {7, 5, 3, 3}, Conv2dParams::make(2, 1), true, 41);
}

TEST(Conv2dCuda, Parity7x7Stride2Pad3) {
  REQUIRE_CUDA();
  expect_parity_every_backend({3, 3, 23, 19}, {8, 3, 7, 7}, Conv2dParams::make(2, 3), true, 42);
}

TEST(Conv2dCuda, Parity1x1Stride2NoBias) {
  REQUIRE_CUDA();
  expect_parity_every_backend({3, 6, 11, 9}, {5, 6, 1, 1}, Conv2dParams::make(2, 0), false, 43);
}

TEST(Conv2dCuda, Parity1x1Stride1Shortcut) {
  REQUIRE_CUDA();
  expect_parity_every_backend({3, 6, 11, 9}, {5, 6, 1, 1}, Conv2dParams{}, true, 44);
}

TEST(Conv2dCuda, ParityDilation2) {
  REQUIRE_CUDA();
  expect_parity_every_backend({3, 5, 11, 9}, {7, 5, 3, 3}, Conv2dParams::make(1, 2, 2), false,
                              45);
}

TEST(Conv2dCuda, ParityNonSquareKernelsAndStrides) {
  REQUIRE_CUDA();
  expect_parity_every_backend({3, 5, 11, 13}, {4, 5, 1, 7}, params(1, 2, 0, 3), true, 46);
  expect_parity_every_backend({3, 5, 11, 13}, {4, 5, 3, 1}, params(2, 1, 1, 0, 2, 1), false, 47);
}

// A ResNet-like layer, with more output channels than threads in a block.
// Sums of up to 2700 products (dx: K*R*S) need a looser tolerance.
TEST(Conv2d, LargerLayerWithinTheFloat32Bound) {
  expect_within_float32_bound({2, 64, 28, 28}, {300, 64, 3, 3}, Conv2dParams::make(1, 1), 48, /*cuda=*/false);
}

TEST(Conv2dCuda, LargerLayerWithinTheFloat32Bound) {
  REQUIRE_CUDA();
  expect_within_float32_bound({2, 64, 28, 28}, {300, 64, 3, 3}, Conv2dParams::make(1, 1), 48);
}

// The bias gradient kernel runs one block per output channel, capped at 65535
// blocks that loop over the rest: with more channels than that, every channel
// must still be reduced (and only once). x gets no gradient here, so that no
// sum over the 70001 channels (dx) needs a loose tolerance.
TEST(Conv2dCuda, BiasGradientWithMoreChannelsThanBlocks) {
  REQUIRE_CUDA();
  for (ConvBackend b : kCudaBackends) {
    SCOPED_TRACE(backend_name(b));
    BackendGuard guard;
    set_conv_backend(b);
    Rng rng(51);
    const int64_t K = 70001;
    test::expect_cpu_cuda_parity(
        [](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], Conv2dParams{}); },
        {randn({2, 1, 3, 5}, rng), randn({K, 1, 1, 1}, rng), randn({K}, rng)}, 1e-5, 1e-5, {0});
  }
}

// The gradients of shared inputs accumulate on the GPU too (cuDNN beta = 1,
// col2im +=, the shortcut GEMM with beta = 1).
TEST(Conv2dCuda, ParitySharedInputsAccumulate) {
  REQUIRE_CUDA();
  for (ConvBackend b : kCudaBackends) {
    SCOPED_TRACE(backend_name(b));
    BackendGuard guard;
    set_conv_backend(b);
    Rng rng(49);
    test::expect_cpu_cuda_parity(
        [](const std::vector<Tensor>& v) {
          Tensor a = conv2d(v[0], v[1], v[2], Conv2dParams::make(1, 1));
          Tensor c = conv2d(v[0], v[3], Tensor(), Conv2dParams{});
          Tensor d = conv2d(v[4], v[1], v[2], Conv2dParams::make(1, 1));
          return add(add(a, c), d);
        },
        {randn({3, 5, 11, 9}, rng), randn({7, 5, 3, 3}, rng), randn({7}, rng),
         randn({7, 5, 1, 1}, rng), randn({3, 5, 11, 9}, rng)},
        1e-4, 1e-4);
  }
}

// The backends agree with each other, and a repeated shape (a cached cuDNN
// plan) gives the same bits again.
TEST(Conv2dCuda, BackendsAgreeAndCachedPlanIsStable) {
  REQUIRE_CUDA();
  BackendGuard guard;
  Rng rng(50);
  Tensor x = randn({3, 5, 11, 9}, rng).to(Device::CUDA);
  Tensor w = randn({7, 5, 3, 3}, rng).to(Device::CUDA);
  Tensor b = randn({7}, rng).to(Device::CUDA);
  const Conv2dParams p = Conv2dParams::make(2, 1);
  set_conv_backend(ConvBackend::CuDNN);
  Tensor y1 = conv2d(x, w, b, p), y2 = conv2d(x, w, b, p);
  EXPECT_TENSORS_CLOSE(y1, y2, 0.0, 0.0);
  set_conv_backend(ConvBackend::Im2col);
  EXPECT_TENSORS_CLOSE(y1, conv2d(x, w, b, p), 1e-4, 1e-4);
  set_conv_backend(ConvBackend::CuDNNGraph);
  Tensor y3 = conv2d(x, w, b, p);
  EXPECT_TENSORS_CLOSE(y1, y3, 1e-4, 1e-4);
  EXPECT_TENSORS_CLOSE(y3, conv2d(x, w, b, p), 0.0, 0.0);
}

// The measured algorithm choice (set_cuda_conv_benchmark, SKINMTL_CUDNN_BENCHMARK)
// keeps the rules of the heuristic one, so the parity with the CPU holds, and
// a measured ranking reused for another batch size of its bucket (5 and 7
// share the bucket 8; 3 has its own) still gives plans cuDNN accepts.
TEST(Conv2dCuda, MeasuredAlgorithmChoiceKeepsParity) {
  REQUIRE_CUDA();
  BackendGuard guard;
  struct BenchmarkGuard {
    ~BenchmarkGuard() { set_cuda_conv_benchmark(false); }
  } benchmark_guard;
  set_cuda_conv_benchmark(true);
  for (ConvBackend b : {ConvBackend::CuDNN, ConvBackend::CuDNNGraph}) {
    SCOPED_TRACE(backend_name(b));
    set_conv_backend(b);
    Rng rng(52);
    for (int64_t n : {5, 7, 3}) {
      SCOPED_TRACE("batch " + std::to_string(n));
      test::expect_cpu_cuda_parity(
          [](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], Conv2dParams::make(2, 1)); },
          {randn({n, 5, 11, 9}, rng), randn({7, 5, 3, 3}, rng), randn({7}, rng)}, 1e-4, 1e-4);
    }
  }
  // A larger layer, where the candidates differ in speed (each backend in turn).
  expect_within_float32_bound({4, 64, 28, 28}, {96, 64, 3, 3}, Conv2dParams::make(1, 1), 52);
}

#if SKINMTL_CUDA
// The optimiser packs parameters into one flat buffer (framework/optimizer.h),
// so a weight can start at any float: here one float into its buffer, 4-byte
// aligned. The graph API path must tell cuDNN so (a plan for 16-byte aligned
// addresses may load 16 bytes at a time), and still match the CPU, forward
// and backward (dx and dw, each added into, as THE RULE has them).
TEST(Conv2dCuda, GraphApiTakesBuffersAlignedToFourBytes) {
  REQUIRE_CUDA();
  BackendGuard guard;
  set_conv_backend(ConvBackend::CuDNNGraph);
  Rng rng(53);
  const Conv2dParams p = Conv2dParams::make(1, 1);
  Tensor x = randn({2, 5, 11, 9}, rng), w = randn({8, 5, 3, 3}, rng), g = randn({2, 8, 11, 9}, rng);
  Tensor xc = x.clone(), wc = w.clone();
  xc.set_requires_grad(true);
  wc.set_requires_grad(true);
  conv2d(xc, wc, Tensor(), p).backward(g);

  Tensor xg = x.to(Device::CUDA), wg = w.to(Device::CUDA);
  Tensor flat = Tensor::zeros({1 + w.numel()}, DType::F32, Device::CUDA);
  wg.move_into(flat, 1);
  ASSERT_EQ(cudnn_alignment({wg.data<float>()}), 4);
  xg.set_requires_grad(true);
  wg.set_requires_grad(true);
  Tensor y = conv2d(xg, wg, Tensor(), p);
  EXPECT_TENSORS_CLOSE(y.to(Device::CPU), conv2d(x, w, Tensor(), p), 1e-4, 1e-4);
  y.backward(g.to(Device::CUDA));
  EXPECT_TENSORS_CLOSE(xg.grad().to(Device::CPU), xc.grad(), 1e-4, 1e-4);
  EXPECT_TENSORS_CLOSE(wg.grad().to(Device::CPU), wc.grad(), 1e-4, 1e-4);
}

// ---- cuDNN graph API: the operation descriptors, checked without a GPU -----------------

Conv2dShape shape_of(int N, int C, int H, int W, int K, int R, int S, int stride_h, int stride_w, int pad_h,
                     int pad_w, int dil_h = 1, int dil_w = 1) {
  return test::conv2d_shape_for({N, C, H, W}, {K, C, R, S},
                                Conv2dParams{stride_h, stride_w, pad_h, pad_w, dil_h, dil_w});
}

// cuDNN finalizes the forward, backward-data and backward-filter operations
// the graph API path builds (tensors, strides, padding, stride, dilation),
// for the convolutions of the three models and the odd shapes of the parity
// tests, float32 and bfloat16. This needs no GPU, so it runs in CI too: what
// it cannot check (engines, plans, execution) the Conv2dCuda tests do.
TEST(CudnnGraphOperations, EveryModelShapeIsAccepted) {
  const std::vector<std::pair<const char*, Conv2dShape>> shapes = {
      {"ResNet-50 stem 7x7/2 at 224", shape_of(20, 3, 224, 224, 64, 7, 7, 2, 2, 3, 3)},
      {"ResNet-50 1x1 reduce", shape_of(20, 256, 56, 56, 64, 1, 1, 1, 1, 0, 0)},
      {"ResNet-50 1x1/2 first of a stage (Keras)", shape_of(20, 512, 28, 28, 256, 1, 1, 2, 2, 0, 0)},
      {"ResNet-50 3x3", shape_of(20, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1)},
      {"ResNet-50 1x1/2 shortcut at 7x7", shape_of(20, 1024, 14, 14, 2048, 1, 1, 2, 2, 0, 0)},
      {"Yang 192x256 stem", shape_of(8, 3, 192, 256, 64, 7, 7, 2, 2, 3, 3)},
      {"FPN 3x3 output at 1024", shape_of(2, 256, 256, 256, 256, 3, 3, 1, 1, 1, 1)},
      {"FPN lateral 1x1 at 1024", shape_of(2, 2048, 32, 32, 256, 1, 1, 1, 1, 0, 0)},
      {"mask head 3x3 on 37 RoIs", shape_of(37, 256, 14, 14, 256, 3, 3, 1, 1, 1, 1)},
      {"parity: 3x3/2 odd", shape_of(3, 5, 11, 9, 7, 3, 3, 2, 2, 1, 1)},
      {"parity: dilation 2", shape_of(3, 5, 11, 9, 7, 3, 3, 1, 1, 2, 2, 2, 2)},
      {"parity: 1x7 kernel, stride (1, 2), padding (0, 3)", shape_of(3, 5, 11, 13, 4, 1, 7, 1, 2, 0, 3)},
      {"parity: 3x1 kernel, dilation (2, 1)", shape_of(3, 5, 11, 13, 4, 3, 1, 2, 1, 1, 0, 2, 1)},
  };
  for (const auto& [name, sh] : shapes) {
    for (CudnnData data : {CudnnData::F32, CudnnData::BF16}) {
      SCOPED_TRACE(std::string(name) + (data == CudnnData::BF16 ? ", bfloat16" : ", float32"));
      EXPECT_EQ(conv2d_cudnn_graph_check_operations(sh, data), "");
    }
  }
}

// The check has teeth: an output size that does not follow from the input,
// kernel, stride and padding is refused, by the forward pass first.
TEST(CudnnGraphOperations, AnOutputOfTheWrongSizeIsRefused) {
  Conv2dShape sh = shape_of(2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1);
  ASSERT_EQ(conv2d_cudnn_graph_check_operations(sh, CudnnData::F32), "");
  sh.P = 9;  // 8 + 2 - 3 + 1 = 8
  const std::string error = conv2d_cudnn_graph_check_operations(sh, CudnnData::F32);
  EXPECT_NE(error.find("forward operation"), std::string::npos) << error;
  EXPECT_NE(error.find("(2, 3, 8, 8) * (4, 3, 3, 3)"), std::string::npos) << error;
}

// The alignment the graph API path declares: the largest of 16, 8, 4, 2, 1
// that divides every address given (null ones do not count).
TEST(CudnnGraphOperations, AlignmentIsTheLargestThatDividesEveryAddress) {
  alignas(16) static unsigned char buf[64];
  EXPECT_EQ(cudnn_alignment({buf}), 16);
  EXPECT_EQ(cudnn_alignment({buf, nullptr, buf + 32}), 16);
  EXPECT_EQ(cudnn_alignment({buf, buf + 8}), 8);
  EXPECT_EQ(cudnn_alignment({buf + 4, buf + 16}), 4);
  EXPECT_EQ(cudnn_alignment({buf + 2}), 2);
  EXPECT_EQ(cudnn_alignment({buf + 6, buf + 1}), 1);
}
#endif  // SKINMTL_CUDA

TEST(Conv2dCuda, DeviceMismatch) {
  REQUIRE_CUDA();
  Tensor x = Tensor::zeros({2, 3, 5, 5}), w = Tensor::zeros({4, 3, 3, 3});
  expect_conv2d_error([&] { conv2d(x.to(Device::CUDA), w, Tensor(), Conv2dParams{}); }, "CUDA");
  expect_conv2d_error(
      [&] { conv2d(x.to(Device::CUDA), w.to(Device::CUDA), Tensor::zeros({4}), Conv2dParams{}); },
      "CPU");
}

}  // namespace
}  // namespace skinmtl
