// upsample_nearest and permute: values worked out by hand (including a
// non-integer ratio, 3 -> 7), gradient checks in float64, CPU-vs-CUDA parity
// on odd shapes, errors.
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

// 0, 1, 2, ... in a tensor of `shape`.
Tensor iota(const Shape& shape, DType dt = DType::F64) {
  std::vector<double> v((size_t)shape_numel(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = (double)i;
  return Tensor::from_vector(v, shape, dt);
}

// ---- upsample_nearest -------------------------------------------------------------------

TEST(UpsampleNearest, ForwardNonIntegerRatioByHand) {
  // H 3 -> 7: source rows floor(oy * 3 / 7) = 0 0 0 1 1 2 2.
  // W 2 -> 5: source cols floor(ox * 2 / 5) = 0 0 0 1 1.
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {1, 1, 3, 2}, DType::F64);
  Tensor y = upsample_nearest(x, 7, 5);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 7, 5}));
  const std::vector<double> want = {
      1, 1, 1, 2, 2,  //
      1, 1, 1, 2, 2,  //
      1, 1, 1, 2, 2,  //
      3, 3, 3, 4, 4,  //
      3, 3, 3, 4, 4,  //
      5, 5, 5, 6, 6,  //
      5, 5, 5, 6, 6};
  EXPECT_EQ(y.to_vector(), want);
  // float32 takes the same path.
  EXPECT_EQ(upsample_nearest(x.to(DType::F32), 7, 5).to_vector(), want);
}

TEST(UpsampleNearest, ExactIntegerRuleWherePytorchsFloatScaleRoundsDown) {
  // 26 -> 44: output row 22 reads row 22 * 26 / 44 = 13 exactly (PyTorch 1.13's
  // float32 scale gives 12.999999 -> 12; see kernels/upsample_nearest.h).
  Tensor x = iota({1, 1, 26, 1});
  std::vector<double> y = upsample_nearest(x, 44, 1).to_vector();
  EXPECT_EQ(y[21], 12);
  EXPECT_EQ(y[22], 13);
  for (int oy = 0; oy < 44; ++oy) EXPECT_EQ(y[oy], oy * 26 / 44) << oy;
}

TEST(UpsampleNearest, BackwardSumsEachSourcesOutputsByHand) {
  // With dy = 1 everywhere, each input gets (#output rows) x (#output cols)
  // reading it: rows 3, 2, 2 and cols 3, 2.
  Tensor x = Tensor::zeros({1, 1, 3, 2}, DType::F64).set_requires_grad();
  upsample_nearest(x, 7, 5).backward(Tensor::ones({1, 1, 7, 5}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{9, 6, 6, 4, 6, 4}));
  // dy = 0, 1, 2, ... (row-major 7 x 5): input (1, 1) sums outputs rows 3-4,
  // cols 3-4: 18 + 19 + 23 + 24 = 84; input (0, 0) rows 0-2, cols 0-2:
  // (0+1+2) + (5+6+7) + (10+11+12) = 54.
  Tensor x2 = Tensor::zeros({1, 1, 3, 2}, DType::F64).set_requires_grad();
  upsample_nearest(x2, 7, 5).backward(iota({1, 1, 7, 5}));
  std::vector<double> g = x2.grad().to_vector();
  EXPECT_EQ(g[0], 54);
  EXPECT_EQ(g[3], 84);
  double total = 0;
  for (double v : g) total += v;
  EXPECT_EQ(total, 34.0 * 35.0 / 2.0);  // every output's gradient lands somewhere once
}

TEST(UpsampleNearest, TwoTimesCopiesEachPixelIntoA2x2Block) {
  Tensor x = iota({2, 3, 4, 5});
  std::vector<double> xv = x.to_vector(), yv = upsample_nearest(x, 8, 10).to_vector();
  for (int64_t nc = 0; nc < 6; ++nc)
    for (int64_t oy = 0; oy < 8; ++oy)
      for (int64_t ox = 0; ox < 10; ++ox)
        ASSERT_EQ(yv[(nc * 8 + oy) * 10 + ox], xv[(nc * 4 + oy / 2) * 5 + ox / 2]);
}

TEST(UpsampleNearest, SameSizeIsACopyAndDownsamplingSkipsPixels) {
  Tensor x = iota({1, 2, 3, 4});
  EXPECT_EQ(upsample_nearest(x, 3, 4).to_vector(), x.to_vector());
  // H 7 -> 3: rows floor(oy * 7 / 3) = 0 2 4; W 5 -> 2: cols 0 2.
  Tensor x7 = iota({1, 1, 7, 5}).set_requires_grad();
  Tensor y = upsample_nearest(x7, 3, 2);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{0, 2, 10, 12, 20, 22}));
  y.backward(Tensor::ones({1, 1, 3, 2}, DType::F64));
  std::vector<double> g = x7.grad().to_vector();
  for (int iy = 0; iy < 7; ++iy)
    for (int ix = 0; ix < 5; ++ix) {
      const bool read = (iy == 0 || iy == 2 || iy == 4) && (ix == 0 || ix == 2);
      EXPECT_EQ(g[iy * 5 + ix], read ? 1.0 : 0.0) << iy << "," << ix;
    }
}

TEST(UpsampleNearest, GradCheck) {
  Rng rng(51);
  auto up = [](int64_t oh, int64_t ow) {
    return [oh, ow](const std::vector<Tensor>& v) { return upsample_nearest(v[0], oh, ow); };
  };
  EXPECT_GRADCHECK(up(7, 11), {uniform64({2, 3, 3, 5}, rng)});  // 7/3, 11/5
  EXPECT_GRADCHECK(up(8, 6), {uniform64({2, 3, 4, 3}, rng)});   // 2x
  EXPECT_GRADCHECK(up(3, 2), {uniform64({1, 2, 7, 5}, rng)});   // down
  EXPECT_GRADCHECK(up(5, 9), {uniform64({2, 1, 1, 1}, rng)});   // one pixel everywhere
}

TEST(UpsampleNearest, Errors) {
  EXPECT_THROW(upsample_nearest(Tensor::zeros({3, 4, 5}), 6, 6), Error);  // not 4-D
  EXPECT_THROW(upsample_nearest(Tensor::zeros({1, 1, 4, 5}), 0, 6), Error);
  EXPECT_THROW(upsample_nearest(Tensor::zeros({1, 1, 4, 5}), 6, -1), Error);
  EXPECT_THROW(upsample_nearest(Tensor::zeros({1, 1, 0, 5}), 6, 6), Error);  // no source pixel
  EXPECT_THROW(upsample_nearest(Tensor(), 6, 6), Error);
  // An empty batch is fine: nothing to copy.
  EXPECT_EQ(upsample_nearest(Tensor::zeros({0, 3, 4, 5}), 8, 10).shape(), (Shape{0, 3, 8, 10}));
}

TEST(UpsampleNearestCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(52);
  auto up = [](int64_t oh, int64_t ow) {
    return [oh, ow](const std::vector<Tensor>& v) { return upsample_nearest(v[0], oh, ow); };
  };
  Tensor x = randn({3, 5, 11, 7}, rng);
  // Sums of at most a few float terms, in the same order on both: exact.
  test::expect_cpu_cuda_parity(up(22, 14), {x}, 0, 0);  // 2x
  test::expect_cpu_cuda_parity(up(17, 23), {x}, 0, 0);  // non-integer up
  test::expect_cpu_cuda_parity(up(5, 3), {x}, 0, 0);    // down
  test::expect_cpu_cuda_parity(up(11, 7), {x}, 0, 0);   // same size
}

// ---- permute ------------------------------------------------------------------------------

TEST(Permute, ForwardValuesByIndex) {
  // x[i][j][k] = 12 i + 4 j + k; y = permute(x, {2, 0, 1}): y[k][i][j] = x[i][j][k].
  Tensor x = iota({2, 3, 4});
  Tensor y = permute(x, {2, 0, 1});
  EXPECT_EQ(y.shape(), (Shape{4, 2, 3}));
  std::vector<double> yv = y.to_vector();
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_EQ(yv[(k * 2 + i) * 3 + j], 12 * i + 4 * j + k);
  // A 2-D transpose, written out: [[0 1 2] [3 4 5]] -> [[0 3] [1 4] [2 5]].
  EXPECT_EQ(permute(iota({2, 3}, DType::F32), {1, 0}).to_vector(),
            (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(Permute, RpnHeadLayout) {
  // (N, A*4, H, W) -> (N, H, W, A*4): the 4A deltas of one position side by side.
  const int64_t N = 2, C = 6, H = 3, W = 5;
  Tensor x = iota({N, C, H, W});
  Tensor y = permute(x, {0, 2, 3, 1});
  EXPECT_EQ(y.shape(), (Shape{N, H, W, C}));
  std::vector<double> xv = x.to_vector(), yv = y.to_vector();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        for (int64_t c = 0; c < C; ++c)
          ASSERT_EQ(yv[((n * H + h) * W + w) * C + c], xv[((n * C + c) * H + h) * W + w]);
  // Negative dims count from the end: the same permutation.
  EXPECT_EQ(permute(x, {0, -2, -1, 1}).to_vector(), yv);
  // Permuting back restores x.
  EXPECT_EQ(permute(y, {0, 3, 1, 2}).to_vector(), xv);
}

TEST(Permute, BackwardIsTheInversePermutation) {
  Tensor x = Tensor::zeros({2, 3, 4}, DType::F64).set_requires_grad();
  Tensor dy = iota({4, 2, 3});  // y = permute(x, {2, 0, 1}) has shape (4, 2, 3)
  permute(x, {2, 0, 1}).backward(dy);
  // dx[i][j][k] = dy[k][i][j] = 6 k + 3 i + j.
  std::vector<double> g = x.grad().to_vector();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(g[(i * 3 + j) * 4 + k], 6 * k + 3 * i + j);
}

TEST(Permute, GradCheck) {
  Rng rng(53);
  auto perm = [](std::vector<int> dims) {
    return [dims](const std::vector<Tensor>& v) { return permute(v[0], dims); };
  };
  EXPECT_GRADCHECK(perm({0, 2, 3, 1}), {uniform64({2, 3, 5, 7}, rng)});
  EXPECT_GRADCHECK(perm({3, 1, 0, 2}), {uniform64({2, 3, 5, 7}, rng)});
  EXPECT_GRADCHECK(perm({0, 1, 2}), {uniform64({3, 1, 5}, rng)});  // identity, size-1 dim
  EXPECT_GRADCHECK(perm({4, 0, 3, 1, 2}), {uniform64({2, 3, 1, 2, 5}, rng)});
}

TEST(Permute, Errors) {
  Tensor x = Tensor::zeros({2, 3, 4});
  EXPECT_THROW(permute(x, {0, 1}), Error);        // too few
  EXPECT_THROW(permute(x, {0, 1, 2, 3}), Error);  // too many
  EXPECT_THROW(permute(x, {0, 1, 1}), Error);     // repeated
  EXPECT_THROW(permute(x, {0, 1, 3}), Error);     // out of range
  EXPECT_THROW(permute(x, {0, 1, -4}), Error);
  EXPECT_THROW(permute(Tensor::zeros({1, 1, 1, 1, 1, 1, 1, 1, 1}), {0, 1, 2, 3, 4, 5, 6, 7, 8}),
               Error);  // beyond kPermuteMaxDims
  EXPECT_THROW(permute(Tensor(), {}), Error);
  // Empty tensors permute their shape.
  EXPECT_EQ(permute(Tensor::zeros({0, 3, 2}), {2, 0, 1}).shape(), (Shape{2, 0, 3}));
}

TEST(PermuteCuda, ParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(54);
  auto perm = [](std::vector<int> dims) {
    return [dims](const std::vector<Tensor>& v) { return permute(v[0], dims); };
  };
  test::expect_cpu_cuda_parity(perm({0, 2, 3, 1}), {randn({3, 12, 11, 7}, rng)}, 0, 0);
  test::expect_cpu_cuda_parity(perm({3, 1, 0, 2}), {randn({3, 5, 11, 7}, rng)}, 0, 0);
  test::expect_cpu_cuda_parity(perm({4, 2, 0, 3, 1}), {randn({3, 5, 2, 7, 9}, rng)}, 0, 0);
  test::expect_cpu_cuda_parity(perm({1, 0}), {randn({1001, 3}, rng)}, 0, 0);
}

}  // namespace
}  // namespace skinmtl
