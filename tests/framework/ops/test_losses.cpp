// sigmoid, softmax, sigmoid_cross_entropy and softmax_cross_entropy: values
// computed here from the textbook formulas (Liao & Luo eqs. 4-7), extreme
// logits, gradient checks in float64, CPU-vs-CUDA parity, errors.
#include <cmath>

#include "framework/autograd.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

// The naive formulas of the paper, for reference values.
double naive_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double naive_bce(double x, double t) {  // eq. 5 for one class
  const double s = naive_sigmoid(x);
  return -(t * std::log(s) + (1.0 - t) * std::log(1.0 - s));
}
double naive_neg_log_softmax(const std::vector<double>& row, int label) {  // eq. 6, 7
  double z = 0;
  for (double v : row) z += std::exp(v);
  return -std::log(std::exp(row[label]) / z);
}

// A vector of 0/1 or soft targets, or of labels with some -1.
Tensor random_targets(const Shape& s, Rng& rng, bool soft, DType dt) {
  std::vector<double> v((size_t)shape_numel(s));
  for (double& t : v) t = soft ? rng.uniform(0.0, 1.0) : (double)rng.randint(0, 2);
  return Tensor::from_vector(v, s, dt);
}
Tensor random_labels(int64_t N, int64_t K, Rng& rng, DType dt, bool with_ignored = true) {
  std::vector<double> v((size_t)N);
  for (double& l : v) l = (with_ignored && rng.uniform() < 0.25) ? -1.0 : (double)rng.randint(0, K);
  return Tensor::from_vector(v, {N}, dt);
}

// ---- sigmoid and softmax -------------------------------------------------------------

TEST(Sigmoid, ForwardValuesAndExtremes) {
  Tensor x = Tensor::from_vector(std::vector<double>{0, 2, -1, -100, 100}, {5}, DType::F64);
  std::vector<double> y = sigmoid(x).to_vector();
  EXPECT_DOUBLE_EQ(y[0], 0.5);
  EXPECT_NEAR(y[1], naive_sigmoid(2), 1e-15);
  EXPECT_NEAR(y[2], naive_sigmoid(-1), 1e-15);
  EXPECT_NEAR(y[3], std::exp(-100.0), 1e-50);  // not 0/0, not rounded up
  EXPECT_EQ(y[4], 1.0);
  // float: exp(1000) would overflow in a naive 1 / (1 + exp(-x)) for x = -1000.
  std::vector<double> yf =
      sigmoid(Tensor::from_vector(std::vector<double>{-1000, 1000}, {2})).to_vector();
  EXPECT_EQ(yf[0], 0.0);
  EXPECT_EQ(yf[1], 1.0);
}

TEST(Sigmoid, GradCheck) {
  Rng rng(31);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sigmoid(v[0]); },
                   {uniform64({3, 4, 5}, rng, -4.0, 4.0)});
}

TEST(Softmax, ForwardValuesRowsSumToOneAndExtremes) {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 1000, 0, -1000}, {2, 3}, DType::F64);
  std::vector<double> y = softmax(x).to_vector();
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(y[0], std::exp(1.0) / z, 1e-15);
  EXPECT_NEAR(y[1], std::exp(2.0) / z, 1e-15);
  EXPECT_NEAR(y[2], std::exp(3.0) / z, 1e-15);
  EXPECT_NEAR(y[0] + y[1] + y[2], 1.0, 1e-15);
  // exp(1000) overflows; the max shift keeps the row finite.
  EXPECT_EQ(y[3], 1.0);
  EXPECT_EQ(y[4], 0.0);
  EXPECT_EQ(y[5], 0.0);
}

TEST(Softmax, GradCheck) {
  Rng rng(32);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return softmax(v[0]); },
                   {uniform64({5, 7}, rng, -3.0, 3.0)});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return softmax(v[0]); },
                   {uniform64({1, 2}, rng, -3.0, 3.0)});
}

TEST(Softmax, Errors) {
  EXPECT_THROW(softmax(Tensor::ones({5})), Error);
  EXPECT_THROW(softmax(Tensor::ones({2, 3, 4})), Error);
  EXPECT_THROW(softmax(Tensor::ones({2, 0})), Error);
}

// ---- sigmoid cross-entropy ------------------------------------------------------------

TEST(SigmoidCrossEntropy, ForwardValuesFromTheNaiveFormula) {
  // The brief's example: logits [0, 2, -1], targets [1, 0, 1], one image.
  const double want = naive_bce(0, 1) + naive_bce(2, 0) + naive_bce(-1, 1);
  for (DType dt : {DType::F64, DType::F32}) {
    Tensor x = Tensor::from_vector(std::vector<double>{0, 2, -1}, {1, 3}, dt);
    Tensor t = Tensor::from_vector(std::vector<double>{1, 0, 1}, {1, 3}, dt);
    Tensor L = sigmoid_cross_entropy(x, t);
    EXPECT_EQ(L.shape(), Shape{});
    EXPECT_NEAR(L.item(), want, dt == DType::F64 ? 1e-14 : 1e-5) << dtype_name(dt);
  }
  // Two images: the mean over images of the per-image sums (eq. 3).
  Tensor x = Tensor::from_vector(std::vector<double>{0, 2, -1, 1, -3, 0.5}, {2, 3}, DType::F64);
  Tensor t = Tensor::from_vector(std::vector<double>{1, 0, 1, 0, 0, 0.25}, {2, 3}, DType::F64);
  const double second = naive_bce(1, 0) + naive_bce(-3, 0) + naive_bce(0.5, 0.25);
  EXPECT_NEAR(sigmoid_cross_entropy(x, t).item(), (want + second) / 2, 1e-14);
}

TEST(SigmoidCrossEntropy, LossIsTheSumOverClassesAveragedOverImages) {
  // L must equal (1/N) sum_n l_n, where l_n = sum_k l(x_nk, t_nk) is computed
  // here separately, per image, both from the naive formula and by the op on
  // the single image (N = 1: no averaging).
  Rng rng(33);
  const int64_t N = 5, K = 7;
  Tensor x = uniform64({N, K}, rng, -4.0, 4.0);
  Tensor t = random_targets({N, K}, rng, false, DType::F64);
  std::vector<double> xv = x.to_vector(), tv = t.to_vector();
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    double image = 0;
    for (int64_t k = 0; k < K; ++k) image += naive_bce(xv[n * K + k], tv[n * K + k]);
    const double op_image =
        sigmoid_cross_entropy(slice(x, 0, n, n + 1), slice(t, 0, n, n + 1)).item();
    EXPECT_NEAR(op_image, image, 1e-13) << "image " << n;
    total += op_image;
  }
  EXPECT_NEAR(sigmoid_cross_entropy(x, t).item(), total / N, 1e-14);
}

TEST(SigmoidCrossEntropy, ExtremeLogitsStayFinite) {
  // Right with certainty: 0; wrong with certainty: |x| = 100 each.
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = Tensor::from_vector(std::vector<double>{100, -100, 100, -100}, {1, 4}, dt)
                   .set_requires_grad();
    Tensor t = Tensor::from_vector(std::vector<double>{1, 0, 0, 1}, {1, 4}, dt);
    Tensor L = sigmoid_cross_entropy(x, t);
    EXPECT_NEAR(L.item(), 200.0, 1e-6) << dtype_name(dt);
    L.backward();
    std::vector<double> g = x.grad().to_vector();  // sigmoid(x) - t
    EXPECT_NEAR(g[0], 0.0, 1e-30);
    EXPECT_NEAR(g[1], 0.0, 1e-30);
    EXPECT_EQ(g[2], 1.0);
    EXPECT_EQ(g[3], -1.0);
  }
}

TEST(SigmoidCrossEntropy, GradCheckHardAndSoftTargets) {
  Rng rng(34);
  auto f = [](const std::vector<Tensor>& v) { return sigmoid_cross_entropy(v[0], v[1]); };
  EXPECT_GRADCHECK(f, {uniform64({4, 9}, rng, -3.0, 3.0), random_targets({4, 9}, rng, false, DType::F64)},
                   {}, {1});
  EXPECT_GRADCHECK(f, {uniform64({3, 5}, rng, -3.0, 3.0), random_targets({3, 5}, rng, true, DType::F64)},
                   {}, {1});
}

TEST(SigmoidCrossEntropy, TargetsRequiringAGradientAreRefused) {
  Tensor x = Tensor::zeros({2, 3}).set_requires_grad();
  Tensor t = Tensor::ones({2, 3}).set_requires_grad();
  EXPECT_THROW(sigmoid_cross_entropy(x, t), Error);
  NoGradGuard ng;  // nothing is recorded: then it is harmless
  EXPECT_NO_THROW(sigmoid_cross_entropy(x, t));
}

TEST(SigmoidCrossEntropy, Errors) {
  EXPECT_THROW(sigmoid_cross_entropy(Tensor::ones({2, 3}), Tensor::ones({2, 4})), Error);
  EXPECT_THROW(sigmoid_cross_entropy(Tensor::ones({6}), Tensor::ones({6})), Error);
  EXPECT_THROW(sigmoid_cross_entropy(Tensor::ones({0, 3}), Tensor::ones({0, 3})), Error);
  EXPECT_THROW(sigmoid_cross_entropy(Tensor::ones({2, 3}), Tensor::ones({2, 3}, DType::F64)),
               Error);
  EXPECT_THROW(sigmoid_cross_entropy(Tensor::ones({2, 3}), Tensor()), Error);
}

// ---- softmax cross-entropy ------------------------------------------------------------

TEST(SoftmaxCrossEntropy, ForwardValuesWithAnIgnoredImage) {
  std::vector<double> r0{0.5, -1, 2, 0}, r1{3, 3, 3, 3}, r2{-2, 1, 0.25, 4};
  std::vector<double> all;
  for (auto* r : {&r0, &r1, &r2}) all.insert(all.end(), r->begin(), r->end());
  // Image 1 is ignored: M = 2.
  const double want = (naive_neg_log_softmax(r0, 2) + naive_neg_log_softmax(r2, 0)) / 2;
  for (DType dt : {DType::F64, DType::F32}) {
    Tensor x = Tensor::from_vector(all, {3, 4}, dt);
    Tensor labels = Tensor::from_vector(std::vector<double>{2, -1, 0}, {3}, dt);
    Tensor L = softmax_cross_entropy(x, labels);
    EXPECT_EQ(L.shape(), Shape{});
    EXPECT_NEAR(L.item(), want, dt == DType::F64 ? 1e-14 : 1e-5) << dtype_name(dt);
  }
}

TEST(SoftmaxCrossEntropy, GradientIsSoftmaxMinusOneHotOverM) {
  Rng rng(35);
  Tensor x = uniform64({4, 5}, rng, -2.0, 2.0).set_requires_grad();
  Tensor labels = Tensor::from_vector(std::vector<double>{3, -1, 0, 4}, {4}, DType::F64);
  softmax_cross_entropy(x, labels).backward();
  std::vector<double> g = x.grad().to_vector();
  std::vector<double> p = softmax(x.detach()).to_vector();
  const int lab[4] = {3, -1, 0, 4};
  for (int n = 0; n < 4; ++n)
    for (int k = 0; k < 5; ++k) {
      const double want = lab[n] < 0 ? 0.0 : (p[n * 5 + k] - (k == lab[n] ? 1.0 : 0.0)) / 3.0;
      EXPECT_NEAR(g[n * 5 + k], want, 1e-15) << "n " << n << " k " << k;
    }
}

TEST(SoftmaxCrossEntropy, AllImagesIgnoredGivesZeroLossAndZeroGradient) {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}).set_requires_grad();
  Tensor labels = Tensor::from_vector(std::vector<double>{-1, -1}, {2});
  Tensor L = softmax_cross_entropy(x, labels);
  EXPECT_EQ(L.item(), 0.0);
  L.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0, 0, 0}));
}

TEST(SoftmaxCrossEntropy, ExtremeLogitsStayFinite) {
  // Image 0: label 1 has logit -100 against 100: loss 200. Image 1: right: ~0.
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = Tensor::from_vector(std::vector<double>{100, -100, 0, -100, 100, 0}, {2, 3}, dt)
                   .set_requires_grad();
    Tensor labels = Tensor::from_vector(std::vector<double>{1, 1}, {2}, dt);
    Tensor L = softmax_cross_entropy(x, labels);
    EXPECT_NEAR(L.item(), 100.0, 1e-5) << dtype_name(dt);
    L.backward();
    std::vector<double> g = x.grad().to_vector();
    // (softmax - onehot) / 2: image 0 -> [1, -1, 0] / 2, image 1 -> [0, 0, 0].
    const double want[6] = {0.5, -0.5, 0, 0, 0, 0};
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(g[i], want[i], 1e-7) << dtype_name(dt) << " " << i;
  }
}

TEST(SoftmaxCrossEntropy, GradCheckWithIgnoredImages) {
  Rng rng(36);
  auto f = [](const std::vector<Tensor>& v) { return softmax_cross_entropy(v[0], v[1]); };
  EXPECT_GRADCHECK(f, {uniform64({6, 5}, rng, -3.0, 3.0),
                       Tensor::from_vector(std::vector<double>{4, -1, 0, 2, -1, 1}, {6}, DType::F64)},
                   {}, {1});
  EXPECT_GRADCHECK(f, {uniform64({7, 23}, rng, -3.0, 3.0), random_labels(7, 23, rng, DType::F64)},
                   {}, {1});
}

TEST(SoftmaxCrossEntropy, BadLabelsThrowOnTheCpu) {
  Tensor x = Tensor::zeros({2, 4});
  auto with = [&](double bad) {
    return softmax_cross_entropy(x, Tensor::from_vector(std::vector<double>{1, bad}, {2}));
  };
  EXPECT_NO_THROW(with(3));
  EXPECT_NO_THROW(with(-1));
  EXPECT_THROW(with(4), Error);     // == K
  EXPECT_THROW(with(-2), Error);    // negative, not the ignore marker
  EXPECT_THROW(with(1.5), Error);   // not an integer
  EXPECT_THROW(with(1e30), Error);  // far out of range (no integer overflow)
  EXPECT_THROW(with(std::nan("")), Error);
}

TEST(SoftmaxCrossEntropy, Errors) {
  Tensor x = Tensor::zeros({3, 4});
  EXPECT_THROW(softmax_cross_entropy(x, Tensor::zeros({4})), Error);     // N mismatch
  EXPECT_THROW(softmax_cross_entropy(x, Tensor::zeros({3, 1})), Error);  // labels not 1-D
  EXPECT_THROW(softmax_cross_entropy(Tensor::zeros({12}), Tensor::zeros({12})), Error);
  EXPECT_THROW(softmax_cross_entropy(Tensor::zeros({3, 0}), Tensor::zeros({3})), Error);
  EXPECT_THROW(softmax_cross_entropy(x, Tensor::zeros({3}, DType::F64)), Error);
  Tensor labels = Tensor::zeros({3}).set_requires_grad();
  EXPECT_THROW(softmax_cross_entropy(x, labels), Error);
}

// ---- CUDA ----------------------------------------------------------------------------

TEST(LossesCuda, SigmoidAndSoftmaxParity) {
  REQUIRE_CUDA();
  Rng rng(37);
  test::expect_cpu_cuda_parity([](const std::vector<Tensor>& v) { return sigmoid(v[0]); },
                               {randn({3, 5, 11, 7}, rng, 4.0)}, 1e-6, 1e-6);
  auto sm = [](const std::vector<Tensor>& v) { return softmax(v[0]); };
  test::expect_cpu_cuda_parity(sm, {randn({7, 23}, rng, 3.0)}, 1e-5, 1e-6);
  test::expect_cpu_cuda_parity(sm, {randn({1000, 3}, rng, 3.0)}, 1e-5, 1e-6);
}

TEST(LossesCuda, SigmoidCrossEntropyParity) {
  REQUIRE_CUDA();
  Rng rng(38);
  auto f = [](const std::vector<Tensor>& v) { return sigmoid_cross_entropy(v[0], v[1]); };
  test::expect_cpu_cuda_parity(
      f, {randn({7, 23}, rng, 3.0), random_targets({7, 23}, rng, false, DType::F32)}, 1e-5, 1e-5,
      {1});
  test::expect_cpu_cuda_parity(
      f, {randn({7, 23}, rng, 3.0), random_targets({7, 23}, rng, true, DType::F32)}, 1e-5, 1e-5,
      {1});
  // More images than one reduction block (two-stage sum), and extreme logits.
  test::expect_cpu_cuda_parity(
      f, {randn({1000, 3}, rng, 50.0), random_targets({1000, 3}, rng, false, DType::F32)}, 1e-5,
      1e-5, {1});
}

TEST(LossesCuda, SoftmaxCrossEntropyParity) {
  REQUIRE_CUDA();
  Rng rng(39);
  auto f = [](const std::vector<Tensor>& v) { return softmax_cross_entropy(v[0], v[1]); };
  test::expect_cpu_cuda_parity(f, {randn({7, 23}, rng, 3.0), random_labels(7, 23, rng, DType::F32)},
                               1e-4, 1e-6, {1});
  test::expect_cpu_cuda_parity(
      f, {randn({600, 5}, rng, 30.0), random_labels(600, 5, rng, DType::F32)}, 1e-4, 1e-6, {1});
  // Every image ignored: 0, and zero gradients, on the GPU as well.
  test::expect_cpu_cuda_parity(
      f, {randn({4, 3}, rng), Tensor::from_vector(std::vector<double>{-1, -1, -1, -1}, {4})}, 0,
      0, {1});
}

TEST(LossesCuda, BadLabelMakesLossAndItsGradientRowNaN) {
  REQUIRE_CUDA();
  Rng rng(40);
  Tensor x = randn({3, 4}, rng).to(Device::CUDA).set_requires_grad();
  Tensor labels = Tensor::from_vector(std::vector<double>{1, 4, 0}, {3}).to(Device::CUDA);
  Tensor L = softmax_cross_entropy(x, labels);
  EXPECT_TRUE(std::isnan(L.to(Device::CPU).item()));
  L.backward();
  std::vector<double> g = x.grad().to(Device::CPU).to_vector();
  for (int k = 0; k < 4; ++k) {
    EXPECT_TRUE(std::isfinite(g[0 * 4 + k]));
    EXPECT_TRUE(std::isnan(g[1 * 4 + k]));
    EXPECT_TRUE(std::isfinite(g[2 * 4 + k]));
  }
}

TEST(LossesCuda, LossesAreBitwiseDeterministic) {
  REQUIRE_CUDA();
  Rng rng(41);
  Tensor x = randn({777, 23}, rng).to(Device::CUDA);
  Tensor t = random_targets({777, 23}, rng, false, DType::F32).to(Device::CUDA);
  Tensor labels = random_labels(777, 23, rng, DType::F32).to(Device::CUDA);
  const double a = sigmoid_cross_entropy(x, t).to(Device::CPU).item();
  const double b = softmax_cross_entropy(x, labels).to(Device::CPU).item();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(sigmoid_cross_entropy(x, t).to(Device::CPU).item(), a);
    EXPECT_EQ(softmax_cross_entropy(x, labels).to(Device::CPU).item(), b);
  }
}

TEST(LossesCuda, MixedDevicesAreRejected) {
  REQUIRE_CUDA();
  Tensor x = Tensor::zeros({2, 3}), t = Tensor::zeros({2, 3}), labels = Tensor::zeros({2});
  EXPECT_THROW(sigmoid_cross_entropy(x.to(Device::CUDA), t), Error);
  EXPECT_THROW(softmax_cross_entropy(x.to(Device::CUDA), labels), Error);
  EXPECT_THROW(softmax_cross_entropy(x, labels.to(Device::CUDA)), Error);
}

}  // namespace
}  // namespace skinmtl
