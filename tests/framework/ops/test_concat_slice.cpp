// concat, slice and take_rows: values, how their gradients are split and
// scattered, gradient checks in float64, CPU-vs-CUDA parity, errors.
#include <numeric>

#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

// 0, 1, 2, ... in the given shape.
Tensor iota(const Shape& s, DType dt = DType::F64) {
  std::vector<double> v((size_t)shape_numel(s));
  std::iota(v.begin(), v.end(), 0.0);
  return Tensor::from_vector(v, s, dt);
}

TEST(Concat, ForwardValuesAlongEachDim) {
  Tensor a = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector(std::vector<double>{5, 6}, {2, 1});
  Tensor c = Tensor::from_vector(std::vector<double>{7, 8}, {1, 2});
  Tensor y1 = concat({a, b}, 1);
  EXPECT_EQ(y1.shape(), (Shape{2, 3}));
  EXPECT_EQ(y1.to_vector(), (std::vector<double>{1, 2, 5, 3, 4, 6}));
  EXPECT_EQ(concat({a, b}, -1).to_vector(), y1.to_vector());
  Tensor y0 = concat({a, c}, 0);
  EXPECT_EQ(y0.shape(), (Shape{3, 2}));
  EXPECT_EQ(y0.to_vector(), (std::vector<double>{1, 2, 3, 4, 7, 8}));
  EXPECT_EQ(concat({c, a}, -2).to_vector(), (std::vector<double>{7, 8, 1, 2, 3, 4}));
  // A middle dim of a 3-D tensor: (2, 1, 2) and (2, 2, 2) -> (2, 3, 2).
  Tensor p = iota({2, 1, 2}), q = scale(iota({2, 2, 2}), 10.0);
  EXPECT_EQ(concat({p, q}, 1).to_vector(),
            (std::vector<double>{0, 1, 0, 10, 20, 30, 2, 3, 40, 50, 60, 70}));
  // One input: a copy; an empty input contributes nothing.
  EXPECT_EQ(concat({a}, 0).to_vector(), a.to_vector());
  EXPECT_EQ(concat({a, Tensor::zeros({2, 0}), b}, 1).to_vector(), y1.to_vector());
}

TEST(Concat, BackwardSplitsTheGradient) {
  Tensor a = iota({2, 2}).set_requires_grad();
  Tensor b = iota({2, 1}).set_requires_grad();
  Tensor y = concat({a, b}, 1);
  y.backward(Tensor::from_vector(std::vector<double>{1, 2, 5, 3, 4, 6}, {2, 3}, DType::F64));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{5, 6}));
}

TEST(Concat, TheSameTensorTwiceGetsBothGradients) {
  Tensor a = iota({1, 3}).set_requires_grad();
  concat({a, a}, 0).backward(
      Tensor::from_vector(std::vector<double>{1, 2, 3, 10, 20, 30}, {2, 3}, DType::F64));
  EXPECT_EQ(a.grad().to_vector(), (std::vector<double>{11, 22, 33}));
}

TEST(Concat, GradCheck) {
  Rng rng(51);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return concat({v[0], v[1], v[2]}, 1); },
                   {uniform64({2, 3, 4}, rng), uniform64({2, 1, 4}, rng), uniform64({2, 5, 4}, rng)});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return concat({v[0], v[1]}, -1); },
                   {uniform64({3, 2, 5}, rng), uniform64({3, 2, 1}, rng)});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return concat({v[0], v[1]}, 0); },
                   {uniform64({1, 7}, rng), uniform64({4, 7}, rng)});
}

TEST(Concat, Errors) {
  Tensor a = Tensor::ones({2, 3});
  EXPECT_THROW(concat({}, 0), Error);
  EXPECT_THROW(concat({a, Tensor::ones({3, 3})}, 1), Error);     // other dim differs
  EXPECT_THROW(concat({a, Tensor::ones({2, 3, 1})}, 0), Error);  // ndim differs
  EXPECT_THROW(concat({a, a}, 2), Error);                        // dim out of range
  EXPECT_THROW(concat({a, a}, -3), Error);
  EXPECT_THROW(concat({a, Tensor::ones({2, 3}, DType::F64)}, 0), Error);
  EXPECT_THROW(concat({a, Tensor()}, 0), Error);
  EXPECT_THROW(concat({Tensor::full(Shape{}, 1.0)}, 0), Error);  // a 0-d tensor has no dim
}

TEST(Slice, ForwardValuesAlongEachDim) {
  Tensor x = iota({3, 4});  // rows 0..3, 4..7, 8..11
  Tensor y = slice(x, 1, 1, 3);
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1, 2, 5, 6, 9, 10}));
  EXPECT_EQ(slice(x, -1, 1, 3).to_vector(), y.to_vector());
  EXPECT_EQ(slice(x, 0, 2, 3).to_vector(), (std::vector<double>{8, 9, 10, 11}));
  EXPECT_EQ(slice(x, 0, 0, 3).to_vector(), x.to_vector());
  Tensor e = slice(x, 1, 2, 2);  // empty
  EXPECT_EQ(e.shape(), (Shape{3, 0}));
  // (2, 3, 2), middle dim [1, 3).
  EXPECT_EQ(slice(iota({2, 3, 2}), 1, 1, 3).to_vector(),
            (std::vector<double>{2, 3, 4, 5, 8, 9, 10, 11}));
}

TEST(Slice, BackwardScattersIntoTheRangeOnly) {
  Tensor x = iota({2, 4}).set_requires_grad();
  slice(x, 1, 1, 3).backward(Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 1, 2, 0, 0, 3, 4, 0}));
}

TEST(Slice, SlicesThatTileTheInputConcatBackToIt) {
  Rng rng(52);
  Tensor x = uniform64({3, 5, 2}, rng);
  Tensor y = concat({slice(x, 1, 0, 2), slice(x, 1, 2, 3), slice(x, 1, 3, 5)}, 1);
  EXPECT_EQ(y.to_vector(), x.to_vector());
}

TEST(Slice, GradCheck) {
  Rng rng(53);
  Tensor x = uniform64({4, 5, 6}, rng);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return slice(v[0], 1, 1, 4); }, {x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return slice(v[0], -1, 2, 5); }, {x});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return slice(v[0], 0, 3, 4); }, {x});
}

TEST(Slice, Errors) {
  Tensor x = Tensor::ones({3, 4});
  EXPECT_THROW(slice(x, 1, 3, 2), Error);   // start > end
  EXPECT_THROW(slice(x, 1, 0, 5), Error);   // end past the end
  EXPECT_THROW(slice(x, 1, -1, 2), Error);  // negative start
  EXPECT_THROW(slice(x, 2, 0, 1), Error);   // dim out of range
  EXPECT_THROW(slice(x, -3, 0, 1), Error);
  EXPECT_THROW(slice(Tensor(), 0, 0, 1), Error);
}

TEST(TakeRows, ForwardValuesInIndexOrder) {
  const Tensor x = iota({4, 2, 3});
  const Tensor y = take_rows(x, {3, 0});
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3}));
  std::vector<double> want;
  for (int r : {3, 0})
    for (int k = 0; k < 6; ++k) want.push_back(6 * r + k);
  EXPECT_EQ(y.to_vector(), want);
  EXPECT_EQ(take_rows(x, {}).shape(), (Shape{0, 2, 3}));
  EXPECT_EQ(take_rows(iota({5}), {4, 1}).to_vector(), (std::vector<double>{4, 1}));
}

TEST(TakeRows, BackwardScattersIntoTheTakenRowsOnly) {
  Tensor x = iota({4, 2}).set_requires_grad();
  take_rows(x, {2, 0}).backward(Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 4, 0, 0, 1, 2, 0, 0}));
  // No row taken: a zero gradient.
  Tensor z = iota({3}).set_requires_grad();
  sum(add(take_rows(z, {}), Tensor::zeros({0}, DType::F64))).backward();
  EXPECT_EQ(z.grad().to_vector(), (std::vector<double>{0, 0, 0}));
}

TEST(TakeRows, GradCheck) {
  Rng rng(55);
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return take_rows(v[0], {5, 1, 2}); },
                   {uniform64({7, 3, 2}, rng)});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& v) { return take_rows(v[0], {0, 6, 3}); }, {uniform64({7}, rng)});
}

TEST(TakeRows, Errors) {
  const Tensor x = Tensor::ones({3, 4});
  EXPECT_THROW(take_rows(x, {3}), Error);      // out of range
  EXPECT_THROW(take_rows(x, {-1}), Error);
  EXPECT_THROW(take_rows(x, {1, 2, 1}), Error);  // a row taken twice
  EXPECT_THROW(take_rows(Tensor(), {0}), Error);
  try {
    take_rows(x, {0, 2, 0});
    ADD_FAILURE() << "a repeated row was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row 0 is taken twice"), std::string::npos) << e.what();
  }
}

TEST(TakeRowsCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(56);
  test::expect_cpu_cuda_parity([](const std::vector<Tensor>& v) { return take_rows(v[0], {36, 0, 17, 5, 2}); },
                               {randn({37, 5, 3}, rng)}, 0, 0);
  test::expect_cpu_cuda_parity([](const std::vector<Tensor>& v) { return take_rows(v[0], {}); },
                               {randn({11, 7}, rng)}, 0, 0);
  // More rows than one capped grid covers.
  std::vector<int64_t> every_other;
  for (int64_t i = 0; i < 65535 * 2 + 5; i += 2) every_other.push_back(i);
  test::expect_cpu_cuda_parity([&](const std::vector<Tensor>& v) { return take_rows(v[0], every_other); },
                               {randn({65535 * 2 + 5, 129}, rng)}, 0, 0);
}

TEST(ConcatSliceCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(54);
  test::expect_cpu_cuda_parity(
      [](const std::vector<Tensor>& v) { return concat({v[0], v[1], v[2]}, 1); },
      {randn({3, 5, 11, 7}, rng), randn({3, 2, 11, 7}, rng), randn({3, 1, 11, 7}, rng)}, 0, 0);
  test::expect_cpu_cuda_parity(
      [](const std::vector<Tensor>& v) { return concat({v[0], v[1]}, -1); },
      {randn({7, 23}, rng), randn({7, 19}, rng)}, 0, 0);
  // The same tensor twice: its gradient is the sum of two blocks.
  test::expect_cpu_cuda_parity(
      [](const std::vector<Tensor>& v) { return concat({v[0], v[0]}, 0); }, {randn({5, 3}, rng)},
      0, 0);
  auto sl = [](int dim, int64_t a, int64_t b) {
    return [=](const std::vector<Tensor>& v) { return slice(v[0], dim, a, b); };
  };
  Tensor x = randn({3, 5, 11, 7}, rng);
  test::expect_cpu_cuda_parity(sl(2, 3, 10), {x}, 0, 0);
  test::expect_cpu_cuda_parity(sl(0, 1, 2), {x}, 0, 0);
  test::expect_cpu_cuda_parity(sl(-1, 6, 7), {x}, 0, 0);
  // More elements than one capped grid covers (the grid-stride loop's rest).
  test::expect_cpu_cuda_parity(sl(0, 1, 65535 * 2 + 3), {randn({65535 * 2 + 5, 129}, rng)}, 0, 0);
}

TEST(ConcatSliceCuda, MixedDevicesAreRejected) {
  REQUIRE_CUDA();
  Tensor a = Tensor::ones({2, 3});
  EXPECT_THROW(concat({a, a.to(Device::CUDA)}, 0), Error);
  EXPECT_NO_THROW(concat({a.to(Device::CUDA), a.to(Device::CUDA)}, 0));
}

}  // namespace
}  // namespace skinmtl
