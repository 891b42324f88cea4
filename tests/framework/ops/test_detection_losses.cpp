// smooth_l1_loss, sigmoid_focal_loss, softmax_focal_loss and soft_jaccard_distance
// (Song et al. 2019, eqs. 3, 2 and 5; kernels/<op>.h, framework/ops/<op>.cpp): values
// worked out by hand or from the textbook formula, extreme inputs, gradient
// checks in float64, CPU-vs-CUDA parity, errors. One file for the four: the
// last tests run them side by side.
#include <cmath>

#include "framework/autograd.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

Tensor vec(const std::vector<double>& v, DType dt = DType::F64) {
  return Tensor::from_vector(v, {(int64_t)v.size()}, dt);
}

// ---- smooth L1 ----------------------------------------------------------------------------

TEST(SmoothL1Loss, ForwardValuesByHand) {
  // d = x - t = 0.5, 2, -2, 0 with weights 1, 2, 0.5, 1.
  // beta 1:   0.5 * 0.25 + 2 * (2 - 0.5) + 0.5 * (2 - 0.5) + 0       = 3.875
  // beta 0.5: 1 * (0.5 - 0.25) + 2 * (2 - 0.25) + 0.5 * (2 - 0.25)   = 4.625
  //           (|d| = beta takes the linear branch: both give 0.25 there)
  // beta 0:   L1, 0.5 + 2 * 2 + 0.5 * 2 + 0                          = 5.5
  for (DType dt : {DType::F64, DType::F32}) {
    Tensor x = vec({0.5, 3, -2, 1}, dt), t = vec({0, 1, 0, 1}, dt), w = vec({1, 2, 0.5, 1}, dt);
    Tensor L = smooth_l1_loss(x, t, w);
    EXPECT_EQ(L.shape(), Shape{});
    EXPECT_EQ(L.item(), 3.875) << dtype_name(dt);
    EXPECT_EQ(smooth_l1_loss(x, t, w, 0.5).item(), 4.625) << dtype_name(dt);
    EXPECT_EQ(smooth_l1_loss(x, t, w, 0.0).item(), 5.5) << dtype_name(dt);
  }
}

TEST(SmoothL1Loss, GradientByHand) {
  // w * s'(d): 1 * 0.5 / 1, 2 * sign(2), 0.5 * sign(-2), 1 * 0; times dL = 3.
  Tensor x = vec({0.5, 3, -2, 1}).set_requires_grad();
  smooth_l1_loss(x, vec({0, 1, 0, 1}), vec({1, 2, 0.5, 1})).backward(Tensor::full({}, 3.0, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1.5, 6, -1.5, 0}));
}

TEST(SmoothL1Loss, EmptyInputIsZero) {
  Tensor z = Tensor::zeros({0, 4}, DType::F64);
  EXPECT_EQ(smooth_l1_loss(z, z, z).item(), 0.0);
}

TEST(SmoothL1Loss, GradCheck) {
  Rng rng(71);
  for (double beta : {1.0, 0.3, 1.0 / 9.0}) {
    auto f = [beta](const std::vector<Tensor>& v) { return smooth_l1_loss(v[0], v[1], v[2], beta); };
    EXPECT_GRADCHECK(f, {uniform64({2, 3, 5}, rng, -2.0, 2.0), uniform64({2, 3, 5}, rng),
                         uniform64({2, 3, 5}, rng, 0.0, 2.0)},
                     {}, {1, 2});
  }
}

TEST(SmoothL1Loss, Errors) {
  Tensor a = Tensor::zeros({2, 4});
  EXPECT_THROW(smooth_l1_loss(a, Tensor::zeros({2, 3}), a), Error);
  EXPECT_THROW(smooth_l1_loss(a, a, Tensor::zeros({8})), Error);
  EXPECT_THROW(smooth_l1_loss(a, a, Tensor::zeros({2, 4}, DType::F64)), Error);
  EXPECT_THROW(smooth_l1_loss(a, Tensor(), a), Error);
  EXPECT_THROW(smooth_l1_loss(a, a, a, -1.0), Error);
  Tensor t = Tensor::zeros({2, 4}).set_requires_grad();
  EXPECT_THROW(smooth_l1_loss(a, t, a), Error);
  EXPECT_THROW(smooth_l1_loss(a, a, t), Error);
}

TEST(SmoothL1LossCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(72);
  for (double beta : {1.0, 1.0 / 9.0, 0.0}) {
    auto f = [beta](const std::vector<Tensor>& v) { return smooth_l1_loss(v[0], v[1], v[2], beta); };
    // 1155 elements: more than one reduction block (the two-stage sum).
    test::expect_cpu_cuda_parity(f, {randn({3, 5, 11, 7}, rng, 2.0), randn({3, 5, 11, 7}, rng),
                                     rand_uniform({3, 5, 11, 7}, rng, 0.0, 1.0)},
                                 1e-5, 1e-5, {1, 2});
  }
  // Tiny and empty inputs: one block; n = 0 writes 0.
  auto f = [](const std::vector<Tensor>& v) { return smooth_l1_loss(v[0], v[1], v[2]); };
  test::expect_cpu_cuda_parity(f, {randn({3}, rng), randn({3}, rng), Tensor::ones({3})}, 1e-6,
                               1e-6, {1, 2});
  Tensor z = Tensor::zeros({0});
  EXPECT_EQ(smooth_l1_loss(z.to(Device::CUDA), z.to(Device::CUDA), z.to(Device::CUDA))
                .to(Device::CPU)
                .item(),
            0.0);
}

// ---- sigmoid focal loss ----------------------------------------------------------------------

// Eq. 2 for one anchor, straight from the paper (fine for moderate logits).
double naive_focal(double x, double y, double alpha, double gamma) {
  const double p = 1.0 / (1.0 + std::exp(-x));
  return -alpha * (std::pow(1 - p, gamma) * y * std::log(p) +
                   std::pow(p, gamma) * (1 - y) * std::log(1 - p));
}

// 0/1 targets, or soft ones in [0, 1].
Tensor random_targets(const Shape& s, Rng& rng, bool soft, DType dt = DType::F64) {
  std::vector<double> v((size_t)shape_numel(s));
  for (double& t : v) t = soft ? rng.uniform(0.0, 1.0) : (double)rng.randint(0, 2);
  return Tensor::from_vector(v, s, dt);
}

TEST(SigmoidFocalLoss, ForwardValuesByHandAndFromEq2) {
  // x = 0: p = 1/2 for either label, FL = alpha (1/2)^2 ln 2 = 0.0625 ln 2 (alpha 0.25, gamma 2).
  const double ln2 = std::log(2.0);
  for (DType dt : {DType::F64, DType::F32}) {
    Tensor L = sigmoid_focal_loss(vec({0, 0}, dt), vec({1, 0}, dt), vec({1, 3}, dt));
    EXPECT_EQ(L.shape(), Shape{});
    EXPECT_NEAR(L.item(), 4 * 0.0625 * ln2, dt == DType::F64 ? 1e-15 : 1e-7) << dtype_name(dt);
  }
  // A mixed batch against the naive formula, defaults and other alpha/gamma.
  const std::vector<double> x{0.3, 2, -1, 0.5, -3, 4}, y{1, 0, 1, 0.3, 0, 1}, w{1, 0.5, 2, 1, 1, 0.25};
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {0.75, 0.0}, {1.0, 0.5}, {0.5, 3.0}}) {
    double want = 0;
    for (size_t i = 0; i < x.size(); ++i) want += w[i] * naive_focal(x[i], y[i], alpha, gamma);
    EXPECT_NEAR(sigmoid_focal_loss(vec(x), vec(y), vec(w), alpha, gamma).item(), want, 1e-14)
        << "alpha " << alpha << " gamma " << gamma;
  }
}

TEST(SigmoidFocalLoss, GammaZeroAlphaOneIsBinaryCrossEntropy) {
  Rng rng(73);
  Tensor x = uniform64({1, 9}, rng, -4.0, 4.0), t = random_targets({1, 9}, rng, true);
  EXPECT_NEAR(sigmoid_focal_loss(x, t, Tensor::ones({1, 9}, DType::F64), 1.0, 0.0).item(),
              sigmoid_cross_entropy(x, t).item(), 1e-13);
}

TEST(SigmoidFocalLoss, GradientByHand) {
  // x = 0, y = 1: p = q = 1/2, dFL/dx = -alpha q^2 (q - gamma p log p)
  //   = -0.25 * 0.25 * (0.5 + ln 2); y = 0 mirrors it: +0.0625 (0.5 + ln 2).
  Tensor x = vec({0, 0, 0}).set_requires_grad();
  sigmoid_focal_loss(x, vec({1, 0, 1}), vec({1, 2, 0})).backward();
  const double g = 0.0625 * (0.5 + std::log(2.0));
  std::vector<double> d = x.grad().to_vector();
  EXPECT_NEAR(d[0], -g, 1e-15);
  EXPECT_NEAR(d[1], 2 * g, 1e-15);
  EXPECT_EQ(d[2], 0.0);  // weight 0: dropped
}

TEST(SigmoidFocalLoss, ZeroWeightDropsAnAnchor) {
  Rng rng(74);
  Tensor x = uniform64({2, 5}, rng, -3.0, 3.0), t = random_targets({2, 5}, rng, false);
  std::vector<double> w(10, 1.0);
  const double all = sigmoid_focal_loss(x, t, Tensor::from_vector(w, {2, 5}, DType::F64)).item();
  w[3] = 0;
  const double dropped = sigmoid_focal_loss(x, t, Tensor::from_vector(w, {2, 5}, DType::F64)).item();
  const std::vector<double> xv = x.to_vector(), tv = t.to_vector();
  EXPECT_NEAR(all - dropped, naive_focal(xv[3], tv[3], 0.25, 2.0), 1e-14);
}

TEST(SigmoidFocalLoss, ExtremeLogitsStayFinite) {
  // Certain and right: ~0. Certain and wrong: alpha |x| = 25. The gradients
  // tend to -alpha (y = 1) and +alpha (y = 0) where wrong, to 0 where right.
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = vec({100, -100, 100, -100}, dt).set_requires_grad();
    Tensor L = sigmoid_focal_loss(x, vec({1, 1, 0, 0}, dt), Tensor::ones({4}, dt));
    EXPECT_NEAR(L.item(), 50.0, 1e-5) << dtype_name(dt);
    L.backward();
    std::vector<double> g = x.grad().to_vector();
    EXPECT_NEAR(g[0], 0.0, 1e-30) << dtype_name(dt);
    EXPECT_NEAR(g[1], -0.25, 1e-7) << dtype_name(dt);
    EXPECT_NEAR(g[2], 0.25, 1e-7) << dtype_name(dt);
    EXPECT_NEAR(g[3], 0.0, 1e-30) << dtype_name(dt);
  }
}

TEST(SigmoidFocalLoss, GradCheck) {
  Rng rng(75);
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {1.0, 0.0}, {0.6, 0.5}, {0.25, 3.0}}) {
    auto f = [alpha, gamma](const std::vector<Tensor>& v) {
      return sigmoid_focal_loss(v[0], v[1], v[2], alpha, gamma);
    };
    EXPECT_GRADCHECK(f, {uniform64({3, 7}, rng, -4.0, 4.0), random_targets({3, 7}, rng, false),
                         uniform64({3, 7}, rng, 0.0, 2.0)},
                     {}, {1, 2});
    EXPECT_GRADCHECK(f, {uniform64({2, 3, 5}, rng, -4.0, 4.0), random_targets({2, 3, 5}, rng, true),
                         uniform64({2, 3, 5}, rng, 0.0, 2.0)},
                     {}, {1, 2});
  }
}

TEST(SigmoidFocalLoss, Errors) {
  Tensor a = Tensor::zeros({2, 4});
  EXPECT_THROW(sigmoid_focal_loss(a, Tensor::zeros({4, 2}), a), Error);
  EXPECT_THROW(sigmoid_focal_loss(a, a, Tensor::zeros({2, 4}, DType::F64)), Error);
  EXPECT_THROW(sigmoid_focal_loss(a, a, Tensor()), Error);
  EXPECT_THROW(sigmoid_focal_loss(a, a, a, 0.25, -1.0), Error);
  Tensor t = Tensor::zeros({2, 4}).set_requires_grad();
  EXPECT_THROW(sigmoid_focal_loss(a, t, a), Error);
  EXPECT_THROW(sigmoid_focal_loss(a, a, t), Error);
  NoGradGuard ng;  // nothing recorded: harmless
  EXPECT_NO_THROW(sigmoid_focal_loss(a, t, a));
}

TEST(SigmoidFocalLossCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(76);
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {1.0, 0.0}, {0.6, 0.5}}) {
    auto f = [alpha, gamma](const std::vector<Tensor>& v) {
      return sigmoid_focal_loss(v[0], v[1], v[2], alpha, gamma);
    };
    test::expect_cpu_cuda_parity(f, {randn({3, 5, 11, 7}, rng, 3.0),
                                     random_targets({3, 5, 11, 7}, rng, false, DType::F32),
                                     rand_uniform({3, 5, 11, 7}, rng, 0.0, 1.0)},
                                 1e-5, 1e-5, {1, 2});
    // Extreme logits and soft targets.
    test::expect_cpu_cuda_parity(f, {randn({13, 31}, rng, 40.0),
                                     random_targets({13, 31}, rng, true, DType::F32),
                                     Tensor::ones({13, 31})},
                                 1e-5, 1e-5, {1, 2});
  }
}

// ---- softmax focal loss (the Classify subnet's L_cls) ------------------------------------------

// Class indices 0 .. K-1 as floats, each class at least once when N >= K.
Tensor random_labels(int64_t N, int64_t K, Rng& rng, DType dt = DType::F64) {
  std::vector<double> v((size_t)N);
  for (int64_t n = 0; n < N; ++n) v[(size_t)n] = n < K ? (double)n : (double)rng.randint(0, (int)K);
  return Tensor::from_vector(v, {N}, dt);
}

// The textbook formula in double: -alpha (1 - p)^gamma log p, p the softmax of the label.
double naive_softmax_focal(const std::vector<double>& x, int64_t c, double alpha, double gamma) {
  double z = 0;
  for (double v : x) z += std::exp(v);
  const double p = std::exp(x[(size_t)c]) / z;
  return -alpha * std::pow(1 - p, gamma) * std::log(p);
}

TEST(SoftmaxFocalLoss, ForwardValuesByHandAndFromTheFormula) {
  // Equal logits over 3 classes: p = 1/3, FL = alpha (2/3)^2 ln 3 (alpha 0.25, gamma 2).
  for (DType dt : {DType::F64, DType::F32}) {
    Tensor L = softmax_focal_loss(Tensor::zeros({2, 3}, dt), vec({0, 2}, dt));
    EXPECT_EQ(L.shape(), Shape{});
    EXPECT_NEAR(L.item(), 0.25 * (4.0 / 9.0) * std::log(3.0), dt == DType::F64 ? 1e-15 : 1e-7) << dtype_name(dt);
  }
  const std::vector<double> x{0.3, 2, -1, 0.5, -3, 4, 1, 1, 1.5, -2, 0, 7};  // 4 rows of 3
  const std::vector<double> c{0, 2, 1, 1};
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {0.75, 0.0}, {1.0, 0.5}, {0.5, 3.0}}) {
    double want = 0;
    for (int n = 0; n < 4; ++n)
      want += naive_softmax_focal({x.begin() + 3 * n, x.begin() + 3 * n + 3}, (int64_t)c[n], alpha, gamma);
    const Tensor logits = Tensor::from_vector(x, {4, 3}, DType::F64);
    EXPECT_NEAR(softmax_focal_loss(logits, vec(c), alpha, gamma).item(), want / 4, 1e-14)
        << "alpha " << alpha << " gamma " << gamma;
  }
}

TEST(SoftmaxFocalLoss, GammaZeroAlphaOneIsSoftmaxCrossEntropy) {
  Rng rng(78);
  Tensor x = uniform64({9, 4}, rng, -4.0, 4.0).set_requires_grad();
  Tensor y = x.detach().set_requires_grad();
  const Tensor labels = random_labels(9, 4, rng);
  Tensor a = softmax_focal_loss(x, labels, 1.0, 0.0), b = softmax_cross_entropy(y, labels);
  EXPECT_NEAR(a.item(), b.item(), 1e-14);
  a.backward();
  b.backward();
  const std::vector<double> ga = x.grad().to_vector(), gb = y.grad().to_vector();
  for (size_t i = 0; i < ga.size(); ++i) EXPECT_NEAR(ga[i], gb[i], 1e-15) << i;
}

TEST(SoftmaxFocalLoss, TwoClassesIsEq2) {
  // Logits (0, z): the softmax's second probability is sigmoid(z), so label 1
  // is eq. 2's positive term on z and label 0 its negative one, loss and gradient.
  Rng rng(79);
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {0.6, 0.5}}) {
    const Tensor z = uniform64({8}, rng, -5.0, 5.0);
    const Tensor y = random_targets({8}, rng, false);
    std::vector<double> rows;
    for (double v : z.to_vector()) rows.insert(rows.end(), {0.0, v});
    Tensor x2 = Tensor::from_vector(rows, {8, 2}, DType::F64).set_requires_grad();
    Tensor z1 = z.detach().set_requires_grad();
    Tensor a = softmax_focal_loss(x2, y, alpha, gamma);
    Tensor b = sigmoid_focal_loss(z1, y, Tensor::ones({8}, DType::F64), alpha, gamma);
    EXPECT_NEAR(a.item(), b.item() / 8, 1e-14);
    a.backward();
    b.backward();
    const std::vector<double> g2 = x2.grad().to_vector(), g1 = z1.grad().to_vector();
    for (int n = 0; n < 8; ++n) {
      EXPECT_NEAR(g2[2 * n + 1], g1[n] / 8, 1e-14) << n;
      EXPECT_NEAR(g2[2 * n], -g1[n] / 8, 1e-14) << n;  // a row's gradient sums to 0
    }
  }
}

TEST(SoftmaxFocalLoss, ExtremeLogitsStayFinite) {
  // Certain and right: loss and gradient 0 (gamma > 0). Certain and wrong by
  // 100: p = e^-100, FL = alpha 100, and the gradient tends to the
  // cross-entropy's times alpha: -alpha on the label, +alpha on the winner.
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = Tensor::from_vector(std::vector<double>{100, 0, 0, 0, 100, 0}, {2, 3}, dt).set_requires_grad();
    Tensor L = softmax_focal_loss(x, vec({0, 0}, dt));
    EXPECT_NEAR(L.item(), 0.25 * 100 / 2, 1e-5) << dtype_name(dt);
    L.backward();
    const std::vector<double> g = x.grad().to_vector();
    for (int k = 0; k < 3; ++k) EXPECT_NEAR(g[k], 0.0, 1e-30) << dtype_name(dt) << " k " << k;
    EXPECT_NEAR(g[3], -0.25 / 2, 1e-7) << dtype_name(dt);
    EXPECT_NEAR(g[4], 0.25 / 2, 1e-7) << dtype_name(dt);
    EXPECT_NEAR(g[5], 0.0, 1e-30) << dtype_name(dt);
  }
}

TEST(SoftmaxFocalLoss, GradCheck) {
  Rng rng(80);
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {1.0, 0.0}, {0.6, 0.5}, {0.25, 3.0}}) {
    auto f = [alpha, gamma](const std::vector<Tensor>& v) { return softmax_focal_loss(v[0], v[1], alpha, gamma); };
    EXPECT_GRADCHECK(f, {uniform64({7, 3}, rng, -4.0, 4.0), random_labels(7, 3, rng)}, {}, {1});
    EXPECT_GRADCHECK(f, {uniform64({5, 6}, rng, -3.0, 3.0), random_labels(5, 6, rng)}, {}, {1});
  }
}

TEST(SoftmaxFocalLoss, NoRowsIsZero) {
  Tensor x = Tensor::zeros({0, 3}).set_requires_grad();
  Tensor L = softmax_focal_loss(x, Tensor::zeros({0}));
  EXPECT_EQ(L.item(), 0.0);
  L.backward();
  EXPECT_EQ(x.grad().numel(), 0);
}

TEST(SoftmaxFocalLoss, Errors) {
  Tensor x = Tensor::zeros({3, 3});
  try {
    softmax_focal_loss(x, Tensor::from_vector(std::vector<double>{0, 3, 1}, {3}));
    ADD_FAILURE() << "a label out of range was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 3 of row 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(softmax_focal_loss(x, Tensor::from_vector(std::vector<double>{0, 0.5, 1}, {3})), Error);
  EXPECT_THROW(softmax_focal_loss(x, Tensor::from_vector(std::vector<double>{0, -1, 1}, {3})), Error);  // no ignore
  EXPECT_THROW(softmax_focal_loss(x, Tensor::zeros({2})), Error);
  EXPECT_THROW(softmax_focal_loss(x, Tensor::zeros({3}, DType::F64)), Error);
  EXPECT_THROW(softmax_focal_loss(Tensor::zeros({3}), Tensor::zeros({3})), Error);
  EXPECT_THROW(softmax_focal_loss(x, Tensor::zeros({3}), 0.25, -1.0), Error);
  EXPECT_THROW(softmax_focal_loss(x, Tensor::zeros({3}).set_requires_grad()), Error);
}

TEST(SoftmaxFocalLossCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(81);
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {1.0, 0.0}, {0.6, 0.5}}) {
    auto f = [alpha, gamma](const std::vector<Tensor>& v) { return softmax_focal_loss(v[0], v[1], alpha, gamma); };
    test::expect_cpu_cuda_parity(f, {randn({257, 3}, rng, 3.0), random_labels(257, 3, rng, DType::F32)}, 1e-5, 1e-6,
                                 {1});
    // Extreme logits, more classes.
    test::expect_cpu_cuda_parity(f, {randn({13, 11}, rng, 40.0), random_labels(13, 11, rng, DType::F32)}, 1e-5,
                                 1e-6, {1});
  }
}

TEST(SoftmaxFocalLossCuda, BadLabelMakesLossAndItsGradientRowNaN) {
  REQUIRE_CUDA();
  Tensor x = Tensor::zeros({3, 3}).to(Device::CUDA).set_requires_grad();
  Tensor L = softmax_focal_loss(x, Tensor::from_vector(std::vector<double>{1, 4, 0}, {3}).to(Device::CUDA));
  EXPECT_TRUE(std::isnan(L.to(Device::CPU).item()));
  L.backward();
  const std::vector<double> g = x.grad().to(Device::CPU).to_vector();
  for (int k = 0; k < 3; ++k) {
    EXPECT_FALSE(std::isnan(g[k])) << k;
    EXPECT_TRUE(std::isnan(g[3 + k])) << k;
    EXPECT_FALSE(std::isnan(g[6 + k])) << k;
  }
}

// ---- soft Jaccard distance --------------------------------------------------------------------

TEST(SoftJaccardDistance, ForwardValuesByHand) {
  // p = [1, 0.5, 0, 0.25], t = [1, 1, 0, 0]: I = 1 + 0.5 = 1.5,
  // S = (1 + 1 - 1) + (0.5 + 1 - 0.5) + 0 + 0.25 = 2.25.
  //   smooth 1:   J = 1 - 2.5 / 3.25 = 3/13
  //   smooth 100: J = 100 (1 - 101.5 / 102.25) = 75 / 102.25
  for (DType dt : {DType::F64, DType::F32}) {
    const double tol = dt == DType::F64 ? 1e-15 : 1e-6;
    Tensor p = Tensor::from_vector(std::vector<double>{1, 0.5, 0, 0.25}, {1, 4}, dt);
    Tensor t = Tensor::from_vector(std::vector<double>{1, 1, 0, 0}, {1, 4}, dt);
    Tensor L = soft_jaccard_distance(p, t, 1.0);
    EXPECT_EQ(L.shape(), Shape{});
    EXPECT_NEAR(L.item(), 3.0 / 13.0, tol) << dtype_name(dt);
    EXPECT_NEAR(soft_jaccard_distance(p, t).item(), 75.0 / 102.25, 100 * tol) << dtype_name(dt);
  }
  // Two rows of a (2, 1, 2, 2) batch: the second is empty (p = t = 0, J = 0);
  // the result is the mean over rows.
  Tensor p = Tensor::from_vector(std::vector<double>{1, 0.5, 0, 0.25, 0, 0, 0, 0}, {2, 1, 2, 2},
                                 DType::F64);
  Tensor t = Tensor::from_vector(std::vector<double>{1, 1, 0, 0, 0, 0, 0, 0}, {2, 1, 2, 2},
                                 DType::F64);
  EXPECT_NEAR(soft_jaccard_distance(p, t, 1.0).item(), 3.0 / 26.0, 1e-15);
  // A perfect prediction is at distance 0, whatever smooth is.
  Tensor m = Tensor::from_vector(std::vector<double>{1, 0, 1, 1, 0, 0}, {2, 3}, DType::F64);
  EXPECT_NEAR(soft_jaccard_distance(m, m).item(), 0.0, 1e-13);
}

TEST(SoftJaccardDistance, GradientByHand) {
  // The row above with smooth 1: S + 1 = 3.25, I + 1 = 2.5;
  // dJ/dp_j = -(t_j 3.25 - 2.5 (1 - t_j)) / 3.25^2: -1/3.25 where t = 1,
  // 2.5/3.25^2 where t = 0. Two identical rows: each gets half (the mean).
  Tensor p = Tensor::from_vector(std::vector<double>{1, 0.5, 0, 0.25, 1, 0.5, 0, 0.25}, {2, 4},
                                 DType::F64)
                 .set_requires_grad();
  Tensor t = Tensor::from_vector(std::vector<double>{1, 1, 0, 0, 1, 1, 0, 0}, {2, 4}, DType::F64);
  soft_jaccard_distance(p, t, 1.0).backward();
  const double a = -1.0 / 3.25 / 2, b = 2.5 / (3.25 * 3.25) / 2;
  std::vector<double> g = p.grad().to_vector();
  const double want[8] = {a, a, b, b, a, a, b, b};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(g[i], want[i], 1e-15) << i;
}

TEST(SoftJaccardDistance, AllZeroTargetRowIsFinite) {
  // t = 0, p = 1/2 twice: I = 0, S = 1, J = s (1 - s / (1 + s)) = s / (1 + s);
  // dJ/dp_j = s^2 / (1 + s)^2. And p = t = 0: J = 0 and dJ/dp_j = s^2 / s^2 = 1 (both
  // would be 0/0 without smooth). Each row's share of the mean is 1/2.
  Tensor p = Tensor::from_vector(std::vector<double>{0.5, 0.5, 0, 0}, {2, 2}, DType::F64)
                 .set_requires_grad();
  Tensor t = Tensor::zeros({2, 2}, DType::F64);
  Tensor L = soft_jaccard_distance(p, t);
  EXPECT_NEAR(L.item(), (100.0 / 101.0) / 2, 1e-14);
  L.backward();
  std::vector<double> g = p.grad().to_vector();
  EXPECT_NEAR(g[0], (100.0 / 101.0) * (100.0 / 101.0) / 2, 1e-14);
  EXPECT_NEAR(g[1], g[0], 1e-15);
  EXPECT_NEAR(g[2], 0.5, 1e-15);
  EXPECT_NEAR(g[3], 0.5, 1e-15);
  // float32 too.
  EXPECT_TRUE(std::isfinite(soft_jaccard_distance(Tensor::zeros({3, 5}), Tensor::zeros({3, 5})).item()));
}

TEST(SoftJaccardDistance, GradCheck) {
  Rng rng(78);
  for (double smooth : {100.0, 1.0, 0.1}) {
    auto f = [smooth](const std::vector<Tensor>& v) { return soft_jaccard_distance(v[0], v[1], smooth); };
    EXPECT_GRADCHECK(f, {uniform64({3, 2, 4, 5}, rng, 0.0, 1.0), random_targets({3, 2, 4, 5}, rng, false)},
                     {}, {1});
    EXPECT_GRADCHECK(f, {uniform64({2, 7}, rng, 0.0, 1.0), random_targets({2, 7}, rng, true)}, {}, {1});
  }
}

TEST(SoftJaccardDistance, Errors) {
  Tensor a = Tensor::zeros({2, 4});
  EXPECT_THROW(soft_jaccard_distance(a, Tensor::zeros({2, 5})), Error);
  EXPECT_THROW(soft_jaccard_distance(a, Tensor::zeros({2, 4}, DType::F64)), Error);
  EXPECT_THROW(soft_jaccard_distance(a, Tensor()), Error);
  EXPECT_THROW(soft_jaccard_distance(a, a, 0.0), Error);
  EXPECT_THROW(soft_jaccard_distance(a, a, -1.0), Error);
  EXPECT_THROW(soft_jaccard_distance(Tensor::zeros({0, 4}), Tensor::zeros({0, 4})), Error);
  EXPECT_THROW(soft_jaccard_distance(Tensor::zeros({}), Tensor::zeros({})), Error);
  EXPECT_THROW(soft_jaccard_distance(a, Tensor::zeros({2, 4}).set_requires_grad()), Error);
}

TEST(SoftJaccardDistanceCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(79);
  for (double smooth : {100.0, 1.0}) {
    auto f = [smooth](const std::vector<Tensor>& v) { return soft_jaccard_distance(v[0], v[1], smooth); };
    test::expect_cpu_cuda_parity(f, {rand_uniform({3, 1, 11, 7}, rng, 0.0, 1.0),
                                     random_targets({3, 1, 11, 7}, rng, false, DType::F32)},
                                 1e-5, 1e-6, {1});
    // Rows longer than one reduction block (two-stage row sums).
    test::expect_cpu_cuda_parity(f, {rand_uniform({5, 40, 37}, rng, 0.0, 1.0),
                                     random_targets({5, 40, 37}, rng, true, DType::F32)},
                                 1e-5, 1e-6, {1});
    // More rows than one block (two-stage mean), empty target rows among them.
    std::vector<double> tv = random_targets({300, 9}, rng, false).to_vector();
    for (int r = 0; r < 300; r += 7)
      for (int j = 0; j < 9; ++j) tv[r * 9 + j] = 0;
    test::expect_cpu_cuda_parity(
        f, {rand_uniform({300, 9}, rng, 0.0, 1.0), Tensor::from_vector(tv, {300, 9})}, 1e-5, 1e-6,
        {1});
    test::expect_cpu_cuda_parity(f, {rand_uniform({4, 6}, rng, 0.0, 1.0), Tensor::zeros({4, 6})},
                                 1e-5, 1e-6, {1});
  }
}

TEST(DetectionLossesCuda, LossesAreBitwiseDeterministic) {
  REQUIRE_CUDA();
  Rng rng(77);
  Tensor x = randn({777, 23}, rng).to(Device::CUDA);
  Tensor t = random_targets({777, 23}, rng, false, DType::F32).to(Device::CUDA);
  Tensor w = rand_uniform({777, 23}, rng, 0.0, 1.0).to(Device::CUDA);
  const double a = smooth_l1_loss(x, t, w).to(Device::CPU).item();
  const double b = sigmoid_focal_loss(x, t, w).to(Device::CPU).item();
  const double c = soft_jaccard_distance(w, t).to(Device::CPU).item();
  const Tensor labels = random_labels(777, 23, rng, DType::F32).to(Device::CUDA);
  const double d = softmax_focal_loss(x, labels).to(Device::CPU).item();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(softmax_focal_loss(x, labels).to(Device::CPU).item(), d);
    EXPECT_EQ(smooth_l1_loss(x, t, w).to(Device::CPU).item(), a);
    EXPECT_EQ(sigmoid_focal_loss(x, t, w).to(Device::CPU).item(), b);
    EXPECT_EQ(soft_jaccard_distance(w, t).to(Device::CPU).item(), c);
  }
}

TEST(DetectionLossesCuda, MixedDevicesAreRejected) {
  REQUIRE_CUDA();
  Tensor a = Tensor::zeros({2, 3}), g = a.to(Device::CUDA);
  EXPECT_THROW(smooth_l1_loss(g, a, g), Error);
  EXPECT_THROW(sigmoid_focal_loss(g, g, a), Error);
  EXPECT_THROW(soft_jaccard_distance(g, a), Error);
  EXPECT_THROW(softmax_focal_loss(g, Tensor::zeros({2})), Error);
}

}  // namespace
}  // namespace skinmtl
