// The tape: ordering, accumulation, shared inputs, no-grad, errors.
#include "framework/autograd.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

TEST(Autograd, ChainAndSharedInput) {
  // y = relu(2a + a) with a used twice: dy/da = 3 where 3a > 0.
  Tensor a = Tensor::from_vector(std::vector<double>{1.0, -2.0, 0.5}, {3}).set_requires_grad();
  Tensor y = relu(add(scale(a, 2.0), a));
  ASSERT_TRUE(y.requires_grad());
  y.backward(Tensor::ones({3}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{3.0, 0.0, 3.0}));
}

TEST(Autograd, LeafGradientsAccumulateUntilZeroed) {
  Tensor a = Tensor::from_vector(std::vector<double>{1.0, 2.0}, {2}).set_requires_grad();
  for (int i = 0; i < 3; ++i) scale(a, 5.0).backward(Tensor::ones({2}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{15.0, 15.0}));
  a.zero_grad();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{0.0, 0.0}));
}

TEST(Autograd, DiamondGraphRunsEachNodeOnce) {
  // b = 2a; c = b + b; d = c + b  =>  d = 6a
  Tensor a = Tensor::ones({4}).set_requires_grad();
  Tensor b = scale(a, 2.0);
  Tensor c = add(b, b);
  Tensor d = add(c, b);
  d.backward(Tensor::ones({4}));
  for (double g : a.grad().to_vector()) EXPECT_EQ(g, 6.0);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor a = Tensor::ones({2}).set_requires_grad();
  Tensor y;
  {
    NoGradGuard ng;
    EXPECT_FALSE(grad_enabled());
    y = scale(a, 3.0);
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THROW(y.backward(Tensor::ones({2})), Error);
}

TEST(Autograd, InputsWithoutGradReceiveNone) {
  Tensor a = Tensor::ones({2}).set_requires_grad();
  Tensor b = Tensor::ones({2});
  add(a, b).backward(Tensor::ones({2}));
  EXPECT_TRUE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(Autograd, DeepChainDoesNotOverflowTheStack) {
  Tensor a = Tensor::ones({1}).set_requires_grad();
  Tensor y = a;
  for (int i = 0; i < 20000; ++i) y = scale(y, 1.0);
  y.backward(Tensor::ones({1}));
  EXPECT_EQ(a.grad().item(), 1.0);
}

TEST(Autograd, GraphIsFreedWithItsOutput) {
  // The node never holds its output: dropping the output frees the graph and
  // the intermediate tensors.
  std::weak_ptr<TensorImpl> inter;
  {
    Tensor a = Tensor::ones({8}).set_requires_grad();
    Tensor b = scale(a, 2.0);
    inter = b.impl_ptr();
    Tensor c = relu(b);
    (void)c;
  }
  EXPECT_TRUE(inter.expired());
}

TEST(Autograd, ActivationsNoBackwardSavedAreFreedDuringForward) {
  // b = 2a is relu's input; relu saves its output, scale saves nothing, so
  // while the graph lives on (c), b's data is gone: the tape keeps edges to
  // its inputs, not the inputs. Gradients still flow through b's node.
  Tensor a = Tensor::from_vector(std::vector<double>{1.0, -2.0, 0.5}, {3}).set_requires_grad();
  std::weak_ptr<TensorImpl> inter;
  Tensor c;
  {
    Tensor b = scale(a, 2.0);
    inter = b.impl_ptr();
    c = relu(b);
  }
  EXPECT_TRUE(inter.expired());
  c.backward(Tensor::ones({3}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{2.0, 0.0, 2.0}));
}

TEST(Autograd, LeafRequiresGradIsReadAtBackward) {
  // A leaf switched off between forward and backward receives nothing.
  Tensor a = Tensor::ones({2}).set_requires_grad();
  Tensor w = Tensor::ones({2}).set_requires_grad();
  Tensor y = mul(a, w);
  w.set_requires_grad(false);
  y.backward(Tensor::ones({2}));
  EXPECT_TRUE(a.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(Autograd, BackwardChecksItsGradientShape) {
  Tensor a = Tensor::ones({3}).set_requires_grad();
  Tensor y = scale(a, 1.0);
  EXPECT_THROW(y.backward(Tensor::ones({4})), Error);
  EXPECT_THROW(y.backward(), Error);  // not a one-element tensor
}

}  // namespace
}  // namespace skinmtl
