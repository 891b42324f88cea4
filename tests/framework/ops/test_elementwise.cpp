// add, scale and relu: gradient checks in float64 and CPU-vs-CUDA parity;
// binarize (not differentiable): values, the tape, parity.
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::distinct64;
using test::uniform64;

TEST(Add, ForwardValues) {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3});
  Tensor b = Tensor::from_vector(std::vector<double>{10, 20, 30}, {3});
  EXPECT_EQ(add(a, b).to_vector(), (std::vector<double>{11, 22, 33}));
  EXPECT_THROW(add(a, Tensor::ones({4})), Error);
  EXPECT_THROW(add(a, Tensor::ones({3}, DType::F64)), Error);
}

TEST(Add, GradCheck) {
  Rng rng(1);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return add(x[0], x[1]); },
                   {uniform64({2, 3, 5}, rng), uniform64({2, 3, 5}, rng)});
}

TEST(Scale, GradCheck) {
  Rng rng(2);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return scale(x[0], -1.75); },
                   {uniform64({7, 3}, rng)});
}

TEST(Binarize, OneFromTheThresholdUpAndNothingOnTheTape) {
  const std::vector<double> v = {-1.0, 0.0, 0.4999999, 0.5, 0.75, 2.0};
  for (DType dt : {DType::F32, DType::F64}) {
    Tensor x = Tensor::from_vector(v, {2, 3}, dt).set_requires_grad();
    const Tensor y = binarize(x, 0.5);
    EXPECT_EQ(y.shape(), x.shape());
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_EQ(y.to_vector(), (std::vector<double>{0, 0, 0, 1, 1, 1}));
    EXPECT_FALSE(y.requires_grad());  // a constant: the tape does not record it
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_EQ(binarize(Tensor::from_vector(v, {6}), -1.0).to_vector(), (std::vector<double>(6, 1.0)));
  EXPECT_THROW(binarize(Tensor(), 0.5), Error);
  EXPECT_THROW(binarize(Tensor::ones({3}), std::nan("")), Error);
}

TEST(Relu, ForwardValues) {
  Tensor x = Tensor::from_vector(std::vector<double>{-1.0, 0.0, 2.5}, {3});
  EXPECT_EQ(relu(x).to_vector(), (std::vector<double>{0.0, 0.0, 2.5}));
}

TEST(Relu, GradCheckAwayFromTheKink) {
  Rng rng(3);
  // Values -2.05, -1.95, ..., never within 0.05 of zero.
  EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return relu(x[0]); },
                   {distinct64({3, 4, 5}, rng, -2.95, 0.1)});
}

TEST(Relu, GradCheckSkipsKinksAndCountsThem) {
  // Half the inputs exactly at zero: those are kinks, skipped and counted;
  // with max_kink_fraction 0.6 the check still passes on the rest.
  Tensor x = Tensor::from_vector(std::vector<double>{0, 1, 0, -1, 0, 2, 0, -3}, {8}, DType::F64);
  test::GradCheckOptions opt;
  opt.max_kink_fraction = 0.6;
  auto r = test::gradcheck([](const std::vector<Tensor>& v) { return relu(v[0]); }, {x}, opt);
  EXPECT_TRUE(r.ok) << r.report;
  EXPECT_EQ(r.kinks_skipped, 4);
  EXPECT_EQ(r.checked, 4);
  // With the default 10% the same data is rejected as a bad test input.
  auto strict = test::gradcheck([](const std::vector<Tensor>& v) { return relu(v[0]); }, {x});
  EXPECT_FALSE(strict.ok);
}

TEST(Reshape, GradCheckAndFlatten) {
  Rng rng(6);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& x) { return scale(reshape(x[0], {5, -1}), 2.0); },
                   {uniform64({3, 5, 7}, rng)});
  Tensor f = flatten(Tensor::zeros({3, 5, 7}));
  EXPECT_EQ(f.shape(), (Shape{3, 35}));
}

TEST(ReshapeCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(7);
  test::expect_cpu_cuda_parity(
      [](const std::vector<Tensor>& x) { return scale(reshape(x[0], {-1, 11}), 0.5); },
      {randn({3, 7, 11}, rng)}, 0, 0);
}

TEST(ElementwiseCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(4);
  Tensor a = randn({3, 7, 11, 13}, rng), b = randn({3, 7, 11, 13}, rng);
  test::expect_cpu_cuda_parity([](const std::vector<Tensor>& x) { return add(x[0], x[1]); },
                               {a, b}, 1e-6, 1e-6);
  test::expect_cpu_cuda_parity([](const std::vector<Tensor>& x) { return scale(x[0], 0.3); },
                               {a}, 1e-6, 1e-6);
}

TEST(BinarizeCuda, MatchesTheCpuBitForBit) {
  REQUIRE_CUDA();
  Rng rng(8);
  std::vector<double> v = randn({3, 7, 11, 13}, rng).to_vector();
  for (size_t i = 0; i < v.size(); i += 7) v[i] = 0.25;  // exactly at the threshold: 1
  const Tensor x = Tensor::from_vector(v, {3, 7, 11, 13});
  const Tensor y = binarize(x.to(Device::CUDA), 0.25);
  EXPECT_EQ(y.device(), Device::CUDA);
  EXPECT_EQ(y.to(Device::CPU).to_vector(), binarize(x, 0.25).to_vector());
}

TEST(ReluCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(5);
  test::expect_cpu_cuda_parity([](const std::vector<Tensor>& x) { return relu(x[0]); },
                               {randn({5, 3, 17, 9}, rng)}, 1e-6, 1e-6);
  // A large, odd size: more elements than one grid of capped blocks covers.
  test::expect_cpu_cuda_parity([](const std::vector<Tensor>& x) { return relu(x[0]); },
                               {randn({65535 * 256 + 17}, rng)}, 1e-6, 1e-6);
}

}  // namespace
}  // namespace skinmtl
