// linear: hand-computed values, gradient checks in float64, CPU-vs-CUDA parity, errors.
#include <optional>

#include "framework/precision.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

TEST(Linear, ForwardValuesWithAndWithoutBias) {
  // x (2, 3), w (2, 3), b (2):
  //   y[0] = [1 - 3 + 10, 0.5 + 1 + 1.5 - 1] = [8, 2]
  //   y[1] = [4 - 6 + 10, 2 + 2.5 + 3 - 1]   = [8, 6.5]
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor w = Tensor::from_vector(std::vector<double>{1, 0, -1, 0.5, 0.5, 0.5}, {2, 3});
  Tensor b = Tensor::from_vector(std::vector<double>{10, -1}, {2});
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{8, 2, 8, 6.5}));
  EXPECT_EQ(linear(x, w, Tensor()).to_vector(), (std::vector<double>{-2, 3, -2, 7.5}));
  // No input features (I = 0): the empty product is 0, so y is the bias.
  EXPECT_EQ(linear(Tensor::zeros({2, 0}), Tensor::zeros({2, 0}), b).to_vector(),
            (std::vector<double>{10, -1, 10, -1}));
}

TEST(Linear, BackwardValuesByHand) {
  // L = sum(y): dL/dy = 1 everywhere, so
  //   db[o] = N,  dw[o, i] = sum_n x[n, i],  dx[n, i] = sum_o w[o, i].
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}, DType::F64)
                 .set_requires_grad();
  Tensor w = Tensor::from_vector(std::vector<double>{1, 0, -1, 0.5, 0.5, 0.5}, {2, 3}, DType::F64)
                 .set_requires_grad();
  Tensor b = Tensor::from_vector(std::vector<double>{10, -1}, {2}, DType::F64).set_requires_grad();
  sum(linear(x, w, b)).backward();
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{2, 2}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{5, 7, 9, 5, 7, 9}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1.5, 0.5, -0.5, 1.5, 0.5, -0.5}));
}

TEST(Linear, GradCheckWithBias) {
  Rng rng(21);
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
      {uniform64({5, 7}, rng), uniform64({3, 7}, rng), uniform64({3}, rng)});
}

TEST(Linear, GradCheckWithoutBiasAndOneImage) {
  Rng rng(22);
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
      {uniform64({4, 9}, rng), uniform64({11, 9}, rng), Tensor()});
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
      {uniform64({1, 6}, rng), uniform64({2, 6}, rng), uniform64({2}, rng)});
}

TEST(Linear, OnlyTheInputsThatAskReceiveGradients) {
  // x without requires_grad (the first layer's input): w and b still get theirs.
  Rng rng(23);
  Tensor x = uniform64({3, 4}, rng);
  Tensor w = uniform64({2, 4}, rng).set_requires_grad();
  Tensor b = uniform64({2}, rng).set_requires_grad();
  sum(linear(x, w, b)).backward();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(w.grad().defined());
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{3, 3}));
}

TEST(Linear, Errors) {
  Tensor x = Tensor::ones({2, 3}), w = Tensor::ones({4, 3}), b = Tensor::ones({4});
  EXPECT_NO_THROW(linear(x, w, b));
  EXPECT_THROW(linear(Tensor::ones({2, 3, 1}), w, b), Error);  // x not 2-D
  EXPECT_THROW(linear(x, Tensor::ones({4, 3, 1}), b), Error);  // w not 2-D
  EXPECT_THROW(linear(x, Tensor::ones({4, 5}), b), Error);     // I mismatch
  EXPECT_THROW(linear(x, w, Tensor::ones({3})), Error);        // bias size
  EXPECT_THROW(linear(x, w, Tensor::ones({4, 1})), Error);     // bias not 1-D
  EXPECT_THROW(linear(x, Tensor::ones({4, 3}, DType::F64), b), Error);  // dtype mismatch
  EXPECT_THROW(linear(x, w, Tensor::ones({4}, DType::F64)), Error);
  EXPECT_THROW(linear(x, Tensor(), b), Error);                 // undefined w
}

// An empty product (no images: dw and db are empty sums; no outputs: dx is)
// still writes its gradient: zeros. x, w and b are intermediates here, so
// their gradient buffers are new and hold nothing (NaN-poisoned in the tests):
// a backward that skips the empty GEMM without writing would leave NaN.
void expect_empty_products_write_zeros(Device dev, bool bf16) {
  Rng rng(25);
  auto grads_after = [&](const Shape& xs, const Shape& ws) {
    std::vector<Tensor> leaf = {randn(xs, rng).to(dev), randn(ws, rng).to(dev), randn({ws[0]}, rng).to(dev)};
    for (Tensor& t : leaf) t.set_requires_grad(true);
    {
      std::optional<AutocastGuard> autocast;
      if (bf16) autocast.emplace();
      const Tensor y = linear(scale(leaf[0], 1.0), scale(leaf[1], 1.0), scale(leaf[2], 1.0));
      sum(as_f32(y)).backward();
    }
    return leaf;
  };
  auto expect_zeros = [](const Tensor& g, const char* what) {
    ASSERT_TRUE(g.defined()) << what;
    for (double v : g.to(Device::CPU).to_vector()) ASSERT_EQ(v, 0.0) << what;
  };
  const std::vector<Tensor> no_images = grads_after({0, 5}, {3, 5});
  expect_zeros(no_images[1].grad(), "dw with no images");
  expect_zeros(no_images[2].grad(), "db with no images");
  const std::vector<Tensor> no_outputs = grads_after({4, 5}, {0, 5});
  expect_zeros(no_outputs[0].grad(), "dx with no outputs");
  EXPECT_EQ(no_outputs[0].grad().numel(), 20);
}

TEST(Linear, EmptyProductsWriteZeroGradients) { expect_empty_products_write_zeros(Device::CPU, false); }

TEST(LinearCuda, EmptyProductsWriteZeroGradients) {
  REQUIRE_CUDA();
  expect_empty_products_write_zeros(Device::CUDA, false);
  expect_empty_products_write_zeros(Device::CUDA, true);  // bfloat16 (autocast)
}

TEST(LinearCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(24);
  auto f = [](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); };
  test::expect_cpu_cuda_parity(f, {randn({7, 37}, rng), randn({19, 37}, rng), randn({19}, rng)},
                               1e-4, 1e-4);
  test::expect_cpu_cuda_parity(f, {randn({7, 37}, rng), randn({19, 37}, rng), Tensor()}, 1e-4,
                               1e-4);
  // More outputs than one block of the bias kernels covers, and a batch of one.
  test::expect_cpu_cuda_parity(f, {randn({33, 5}, rng), randn({1031, 5}, rng), randn({1031}, rng)},
                               1e-4, 1e-4);
  test::expect_cpu_cuda_parity(f, {randn({1, 13}, rng), randn({3, 13}, rng), randn({3}, rng)},
                               1e-5, 1e-5);
}

TEST(LinearCuda, MixedDevicesAreRejected) {
  REQUIRE_CUDA();
  Tensor x = Tensor::ones({2, 3}), w = Tensor::ones({4, 3}), b = Tensor::ones({4});
  EXPECT_THROW(linear(x.to(Device::CUDA), w, b), Error);
  EXPECT_THROW(linear(x.to(Device::CUDA), w.to(Device::CUDA), b), Error);
}

}  // namespace
}  // namespace skinmtl
