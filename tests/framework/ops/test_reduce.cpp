// sum and mean over all elements: values, the double accumulator, the
// broadcast backward, gradient checks, CPU-vs-CUDA parity and determinism.
#include <cmath>

#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

TEST(Sum, ForwardValuesAndScalarShape) {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4.5, -0.5, 0}, {2, 3}, DType::F64);
  Tensor s = sum(x);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.item(), 10.0);
  Tensor m = mean(x);
  EXPECT_EQ(m.shape(), Shape{});
  EXPECT_DOUBLE_EQ(m.item(), 10.0 / 6.0);
  // A 0-d input, and an empty one (sum 0).
  EXPECT_EQ(sum(Tensor::full(Shape{}, 2.5)).item(), 2.5);
  EXPECT_EQ(sum(Tensor::zeros({3, 0})).item(), 0.0);
}

TEST(Sum, FloatInputIsAccumulatedInDouble) {
  // 2^24 followed by 1000 ones. A float accumulator is stuck at 2^24 (2^24 + 1
  // rounds back to 2^24); a double one reaches 2^24 + 1000, which float holds
  // exactly (it is even).
  std::vector<double> v(1001, 1.0);
  v[0] = 16777216.0;
  Tensor x = Tensor::from_vector(v, {1001}, DType::F32);
  EXPECT_EQ(sum(x).item(), 16777216.0 + 1000.0);
}

TEST(Sum, BackwardBroadcastsTheScalar) {
  Tensor x = Tensor::zeros({2, 3}, DType::F64).set_requires_grad();
  sum(x).backward(Tensor::full(Shape{}, 2.5, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), std::vector<double>(6, 2.5));
  Tensor z = Tensor::zeros({4}, DType::F64).set_requires_grad();
  mean(z).backward();
  EXPECT_EQ(z.grad().to_vector(), std::vector<double>(4, 0.25));
}

TEST(Sum, GradCheck) {
  Rng rng(61);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return sum(v[0]); },
                   {uniform64({3, 5, 7}, rng)});
}

TEST(Mean, GradCheck) {
  Rng rng(62);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return mean(v[0]); },
                   {uniform64({3, 5, 7}, rng)});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return mean(v[0]); },
                   {uniform64({1}, rng)});
}

TEST(Mean, OfAnEmptyTensorIsAnError) {
  EXPECT_THROW(mean(Tensor::zeros({0})), Error);
  EXPECT_THROW(sum(Tensor()), Error);
  EXPECT_THROW(mean(Tensor()), Error);
}

TEST(ReduceCuda, ParityOddSizes) {
  REQUIRE_CUDA();
  Rng rng(63);
  auto s = [](const std::vector<Tensor>& v) { return sum(v[0]); };
  auto m = [](const std::vector<Tensor>& v) { return mean(v[0]); };
  // One block (<= 256), two stages, and more elements than 1024 full blocks
  // (the stage-1 grid-stride loop).
  for (int64_t n : {1, 255, 257, 12345, 1024 * 256 + 1}) {
    Tensor x = randn({n}, rng);
    test::expect_cpu_cuda_parity(s, {x}, 1e-5, 1e-4 * std::sqrt((double)n));
    test::expect_cpu_cuda_parity(m, {x}, 1e-5, 1e-6);
  }
  test::expect_cpu_cuda_parity(m, {randn({3, 5, 11, 7}, rng)}, 1e-5, 1e-6);
  test::expect_cpu_cuda_parity(s, {randn({65535 * 256 + 17}, rng)}, 1e-5, 1e-1);
}

TEST(ReduceCuda, EmptySumIsZero) {
  REQUIRE_CUDA();
  EXPECT_EQ(sum(Tensor::zeros({0}, DType::F32, Device::CUDA)).to(Device::CPU).item(), 0.0);
}

TEST(ReduceCuda, BitwiseDeterministic) {
  REQUIRE_CUDA();
  Rng rng(64);
  Tensor x = randn({1000003}, rng).to(Device::CUDA);
  const double first = sum(x).to(Device::CPU).item();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sum(x).to(Device::CPU).item(), first);
}

}  // namespace
}  // namespace skinmtl
