// The tape: ordering, accumulation, shared inputs, no-grad, errors.
#include "framework/autograd.h"

#include <cmath>
#include <functional>

#include "framework/accumulate.h"
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

// An identity op whose backward is given by the test (it receives dy and the
// gradient buffers), to reach the engine's handling of new buffers.
Tensor identity_with_backward(const Tensor& x, std::function<void(const Tensor&, GradBuffers&)> backward) {
  Tensor y = x.detach().clone();
  record(y, "identity_test", {x}, std::move(backward));
  return y;
}

TEST(Autograd, AnInputTheBackwardLeavesAloneGetsZeroNotGarbage) {
  // u's gradient buffer is new when the test op's backward runs; the op never
  // touches it, so the engine must zero it (new buffers are NaN in the tests).
  ASSERT_TRUE(poison_new_tensors());
  Tensor a = Tensor::ones({5}).set_requires_grad();
  Tensor u = scale(a, 3.0);
  identity_with_backward(u, [](const Tensor&, GradBuffers&) {}).backward(Tensor::ones({5}));
  EXPECT_EQ(a.grad().to_vector(), std::vector<double>(5, 0.0));
}

TEST(Autograd, WriteHandsANewBufferToOverwriteAndAUsedOneToAddTo) {
  // y = id(u) + id(u), u = 2a: the first backward of id to run is told to
  // overwrite u's new buffer, the second to add to it; each obeys.
  Tensor a = Tensor::ones({4}).set_requires_grad();
  Tensor u = scale(a, 2.0);
  std::vector<bool> told;  // accumulate, per call
  auto backward = [&told](const Tensor& dy, GradBuffers& d) {
    const GradBuffers::Target t = d.write(0);
    told.push_back(t.accumulate);
    write_gradient(t, dy);
  };
  add(identity_with_backward(u, backward), identity_with_backward(u, backward)).backward(Tensor::ones({4}));
  EXPECT_EQ(told, (std::vector<bool>{false, true}));
  EXPECT_EQ(a.grad().to_vector(), std::vector<double>(4, 4.0));  // 2 * (1 + 1)
  // A leaf's buffer is always added to: it holds the running sum.
  told.clear();
  identity_with_backward(a, backward).backward(Tensor::ones({4}));
  EXPECT_EQ(told, std::vector<bool>{true});
  EXPECT_EQ(a.grad().to_vector(), std::vector<double>(4, 5.0));
}

TEST(Autograd, AnOverwritingBackwardThatSkipsElementsIsCaughtByThePoison) {
  // The check the op tests rely on (test_backward_accumulates.cpp): a backward
  // that claims a new buffer and writes only part of it leaves NaN behind.
  ASSERT_TRUE(poison_new_tensors());
  Tensor a = Tensor::ones({6}).set_requires_grad();
  Tensor u = scale(a, 1.0);
  auto half_written = [](const Tensor& dy, GradBuffers& d) {
    const GradBuffers::Target t = d.write(0);
    ASSERT_FALSE(t.accumulate);
    float* g = t.tensor.data<float>();
    for (int i = 0; i < 3; ++i) g[i] = 1.f;  // elements 3..5 left as they were
  };
  identity_with_backward(u, half_written).backward(Tensor::ones({6}));
  const std::vector<double> g = a.grad().to_vector();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g[i], 1.0);
  for (int i = 3; i < 6; ++i) EXPECT_TRUE(std::isnan(g[i])) << i;
}

TEST(Autograd, AnOpTakingOneIntermediateTwiceAddsBothContributions) {
  // add(u, u): both slots share u's buffer; whichever the backward writes
  // first must not overwrite the other's contribution.
  Tensor a = Tensor::ones({3}).set_requires_grad();
  Tensor u = scale(a, 1.0);
  concat({u, u}, 0).backward(Tensor::from_vector(std::vector<double>{1, 2, 3, 10, 20, 30}, {6}));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{11.0, 22.0, 33.0}));
}

}  // namespace
}  // namespace skinmtl
