// mul: values by hand, the product rule by hand, gradient checks in float64,
// CPU-vs-CUDA parity, errors.
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

TEST(Mul, ForwardValues) {
  Tensor a = Tensor::from_vector(std::vector<double>{1, -2, 3, 0.5}, {2, 2}, DType::F64);
  Tensor b = Tensor::from_vector(std::vector<double>{4, 5, -6, 0}, {2, 2}, DType::F64);
  EXPECT_EQ(mul(a, b).to_vector(), (std::vector<double>{4, -10, -18, 0}));
  EXPECT_EQ(mul(a.to(DType::F32), b.to(DType::F32)).to_vector(),
            (std::vector<double>{4, -10, -18, 0}));
}

TEST(Mul, BackwardIsTheOtherFactorTimesDy) {
  Tensor a = Tensor::from_vector(std::vector<double>{1, -2, 3}, {3}, DType::F64).set_requires_grad();
  Tensor b = Tensor::from_vector(std::vector<double>{4, 5, -6}, {3}, DType::F64).set_requires_grad();
  Tensor dy = Tensor::from_vector(std::vector<double>{1, 2, 0.5}, {3}, DType::F64);
  mul(a, b).backward(dy);
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{4, 10, -3}));   // dy * b
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{1, -4, 1.5}));  // dy * a
  // mul(x, x) = x^2: gradient 2 x dy.
  Tensor x = Tensor::from_vector(std::vector<double>{3, -1}, {2}, DType::F64).set_requires_grad();
  mul(x, x).backward(Tensor::ones({2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{6, -2}));
}

TEST(Mul, GradCheck) {
  Rng rng(61);
  auto f = [](const std::vector<Tensor>& v) { return mul(v[0], v[1]); };
  EXPECT_GRADCHECK(f, {uniform64({2, 3, 5}, rng), uniform64({2, 3, 5}, rng)});
  // Only the first input differentiated (a constant mask).
  EXPECT_GRADCHECK(f, {uniform64({7, 3}, rng), uniform64({7, 3}, rng)}, {}, {1});
}

TEST(Mul, Errors) {
  EXPECT_THROW(mul(Tensor::ones({3}), Tensor::ones({4})), Error);
  EXPECT_THROW(mul(Tensor::ones({2, 3}), Tensor::ones({3, 2})), Error);
  EXPECT_THROW(mul(Tensor::ones({3}), Tensor::ones({3}, DType::F64)), Error);
  EXPECT_THROW(mul(Tensor::ones({3}), Tensor()), Error);
}

TEST(MulCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(62);
  auto f = [](const std::vector<Tensor>& v) { return mul(v[0], v[1]); };
  test::expect_cpu_cuda_parity(f, {randn({3, 5, 11, 7}, rng), randn({3, 5, 11, 7}, rng)}, 1e-6,
                               1e-6);
  test::expect_cpu_cuda_parity(f, {randn({3, 5, 11, 7}, rng), randn({3, 5, 11, 7}, rng)}, 1e-6,
                               1e-6, {1});
}

TEST(MulCuda, MixedDevicesAreRejected) {
  REQUIRE_CUDA();
  EXPECT_THROW(mul(Tensor::ones({3}).to(Device::CUDA), Tensor::ones({3})), Error);
}

}  // namespace
}  // namespace skinmtl
