// The gradient checker must catch a wrong backward. Each test builds an op
// whose forward is right and whose backward is deliberately wrong, in one of
// the ways real bugs look, and asserts that gradcheck fails on it.
#include "framework/accumulate.h"
#include "framework/autograd.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// y = x * x, with a backward given by the test.
Tensor square_with_backward(const Tensor& x, std::function<double(double xi, double dyi)> grad) {
  std::vector<double> v = x.to_vector();
  for (double& e : v) e = e * e;
  Tensor y = Tensor::from_vector(v, x.shape(), x.dtype());
  record(y, "square_test", {x}, [x, grad](const Tensor& dy, GradBuffers& d) {
    if (!d[0].defined()) return;
    std::vector<double> xv = x.to_vector(), dyv = dy.to_vector(), g(xv.size());
    for (size_t i = 0; i < g.size(); ++i) g[i] = grad(xv[i], dyv[i]);
    accumulate(d[0], Tensor::from_vector(g, x.shape(), x.dtype()));
  });
  return y;
}

std::vector<Tensor> some_input() {
  Rng rng(7);
  return {test::uniform64({4, 5}, rng, 0.5, 2.0)};
}

TEST(GradCheck, AcceptsTheRightBackward) {
  auto f = [](const std::vector<Tensor>& x) {
    return square_with_backward(x[0], [](double xi, double dy) { return 2 * xi * dy; });
  };
  auto r = test::gradcheck(f, some_input());
  EXPECT_TRUE(r.ok) << r.report;
  EXPECT_EQ(r.checked, 20);
}

TEST(GradCheck, CatchesAWrongFactor) {
  auto f = [](const std::vector<Tensor>& x) {  // off by 1%
    return square_with_backward(x[0], [](double xi, double dy) { return 2.02 * xi * dy; });
  };
  auto r = test::gradcheck(f, some_input());
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.report.empty());
}

TEST(GradCheck, CatchesAWrongSign) {
  auto f = [](const std::vector<Tensor>& x) {
    return square_with_backward(x[0], [](double xi, double dy) { return -2 * xi * dy; });
  };
  EXPECT_FALSE(test::gradcheck(f, some_input()).ok);
}

TEST(GradCheck, CatchesAnIgnoredUpstreamGradient) {
  auto f = [](const std::vector<Tensor>& x) {  // forgets to multiply by dy
    return square_with_backward(x[0], [](double xi, double) { return 2 * xi; });
  };
  EXPECT_FALSE(test::gradcheck(f, some_input()).ok);
}

TEST(GradCheck, CatchesAMissingGradient) {
  auto f = [](const std::vector<Tensor>& x) {
    return square_with_backward(x[0], [](double, double) { return 0.0; });
  };
  EXPECT_FALSE(test::gradcheck(f, some_input()).ok);
}

TEST(GradCheck, RejectsFloat32Inputs) {
  auto f = [](const std::vector<Tensor>& x) { return scale(x[0], 2.0); };
  EXPECT_THROW(test::gradcheck(f, {Tensor::ones({3})}), Error);
}

}  // namespace
}  // namespace skinmtl
