// smooth_l1_loss, sigmoid_focal_loss and soft_jaccard_distance (Song et al.
// 2019, eqs. 3, 2 and 5): values worked out by hand or from the textbook
// formula, extreme inputs, gradient checks in float64, CPU-vs-CUDA parity,
// errors.
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

}  // namespace
}  // namespace skinmtl
