// batch_norm2d: forward values against plain loops, running-statistic updates,
// frozen mode, float64 gradient checks (training and frozen), CPU-vs-CUDA
// parity (including the running statistics and run-to-run determinism), errors.
#include <cmath>

#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "kernels/batch_norm.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

using test::uniform64;

// A (2, 2, 1, 3) input whose channels have round statistics:
//   channel 0: 1 2 3 | 4 5 6      mean 3.5, biased var 17.5/6, unbiased 3.5
//   channel 1: 10 10 13 | 7 10 10 mean 10,  biased var 3,      unbiased 3.6
const std::vector<double> kX = {1, 2, 3, 10, 10, 13,   // n = 0: c0, c1
                                4, 5, 6, 7, 10, 10};   // n = 1: c0, c1
const Shape kXShape = {2, 2, 1, 3};

// y = gamma * (x - mean) / sqrt(var + eps) + beta, by a plain loop.
std::vector<double> bn_loop(const std::vector<double>& x, int64_t N, int64_t C, int64_t HW,
                            const std::vector<double>& mean, const std::vector<double>& var,
                            const std::vector<double>& gamma, const std::vector<double>& beta,
                            double eps) {
  std::vector<double> y(x.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < HW; ++j) {
        const int64_t i = (n * C + c) * HW + j;
        y[i] = gamma[c] * (x[i] - mean[c]) / std::sqrt(var[c] + eps) + beta[c];
      }
  return y;
}

// Per-channel mean and biased variance, by a plain loop.
void stats_loop(const std::vector<double>& x, int64_t N, int64_t C, int64_t HW,
                std::vector<double>& mean, std::vector<double>& var) {
  mean.assign(C, 0.0);
  var.assign(C, 0.0);
  const double M = (double)(N * HW);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < HW; ++j) mean[c] += x[(n * C + c) * HW + j] / M;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < HW; ++j) {
        const double d = x[(n * C + c) * HW + j] - mean[c];
        var[c] += d * d / M;
      }
}

Tensor vec64(const std::vector<double>& v) {
  return Tensor::from_vector(v, {(int64_t)v.size()}, DType::F64);
}

TEST(BatchNorm, TrainingForwardMatchesALoop) {
  const std::vector<double> gamma = {2.0, -1.0}, beta = {0.5, 1.0};
  std::vector<double> mean, var;
  stats_loop(kX, 2, 2, 3, mean, var);
  ASSERT_NEAR(mean[0], 3.5, 1e-12);
  ASSERT_NEAR(var[0], 17.5 / 6, 1e-12);
  ASSERT_NEAR(mean[1], 10.0, 1e-12);
  ASSERT_NEAR(var[1], 3.0, 1e-12);
  // eps is per layer: 1e-3 (Keras/Caffe ResNet-50), 1e-5 (PyTorch), and a
  // large one so that using the wrong eps would show.
  for (double eps : {1e-3, 1e-5, 0.5}) {
    Tensor rm = vec64({0, 0}), rv = vec64({1, 1});
    BatchNormParams p;
    p.eps = eps;
    Tensor y = batch_norm2d(Tensor::from_vector(kX, kXShape, DType::F64), vec64(gamma),
                            vec64(beta), rm, rv, p);
    ASSERT_EQ(y.shape(), kXShape);
    auto want = bn_loop(kX, 2, 2, 3, mean, var, gamma, beta, eps);
    EXPECT_TENSORS_CLOSE(Tensor::from_vector(want, kXShape, DType::F64), y, 1e-12, 1e-12)
        << "eps " << eps;
    // One element by hand: channel 1, x = 13: xhat = 3 / sqrt(3 + eps), y = -xhat + 1.
    EXPECT_NEAR(y.to_vector()[5], -3.0 / std::sqrt(3.0 + eps) + 1.0, 1e-12);
  }
  // The float32 path gives the same numbers to float precision.
  Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  Tensor y32 = batch_norm2d(Tensor::from_vector(kX, kXShape), Tensor::from_vector(gamma, {2}),
                            Tensor::from_vector(beta, {2}), rm, rv, BatchNormParams{});
  auto want = bn_loop(kX, 2, 2, 3, mean, var, gamma, beta, 1e-5);
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(want, kXShape, DType::F64), y32.to(DType::F64), 1e-5,
                       1e-5);
}

TEST(BatchNorm, TrainingUpdatesRunningStatsWithUnbiasedVariance) {
  Tensor rm = vec64({0, 0}), rv = vec64({1, 1});
  BatchNormParams p;
  p.momentum = 0.1;
  batch_norm2d(Tensor::from_vector(kX, kXShape, DType::F64), vec64({1, 1}), vec64({0, 0}), rm, rv,
               p);
  // running_mean = 0.9 * 0 + 0.1 * mean; running_var = 0.9 * 1 + 0.1 * unbiased var.
  EXPECT_TENSORS_CLOSE(vec64({0.35, 1.0}), rm, 1e-12, 1e-12);
  EXPECT_TENSORS_CLOSE(vec64({0.9 + 0.1 * 3.5, 0.9 + 0.1 * 3.6}), rv, 1e-12, 1e-12);
  // A second step from there, momentum 0.5.
  p.momentum = 0.5;
  batch_norm2d(Tensor::from_vector(kX, kXShape, DType::F64), vec64({1, 1}), vec64({0, 0}), rm, rv,
               p);
  EXPECT_TENSORS_CLOSE(vec64({0.5 * 0.35 + 0.5 * 3.5, 0.5 * 1.0 + 0.5 * 10.0}), rm, 1e-12, 1e-12);
  EXPECT_TENSORS_CLOSE(vec64({0.5 * 1.25 + 0.5 * 3.5, 0.5 * 1.26 + 0.5 * 3.6}), rv, 1e-12, 1e-12);
}

TEST(BatchNorm, TrainingUpdatesRunningStatsEvenWithoutGrad) {
  // Evaluation code that forgets to freeze BN still moves the statistics, as
  // in PyTorch: the update is not part of the tape.
  NoGradGuard ng;
  Tensor rm = vec64({0, 0}), rv = vec64({1, 1});
  batch_norm2d(Tensor::from_vector(kX, kXShape, DType::F64), vec64({1, 1}), vec64({0, 0}), rm, rv,
               BatchNormParams{});
  EXPECT_TENSORS_CLOSE(vec64({0.35, 1.0}), rm, 1e-12, 1e-12);
}

TEST(BatchNorm, FrozenUsesRunningStatsAndLeavesThemAlone) {
  const std::vector<double> gamma = {2.0, -1.0}, beta = {0.5, 1.0};
  const std::vector<double> run_mean = {1.0, -2.0}, run_var = {4.0, 0.25};
  Tensor rm = vec64(run_mean), rv = vec64(run_var);
  BatchNormParams p;
  p.training = false;
  p.eps = 1e-3;
  Tensor y = batch_norm2d(Tensor::from_vector(kX, kXShape, DType::F64), vec64(gamma), vec64(beta),
                          rm, rv, p);
  auto want = bn_loop(kX, 2, 2, 3, run_mean, run_var, gamma, beta, 1e-3);
  EXPECT_TENSORS_CLOSE(Tensor::from_vector(want, kXShape, DType::F64), y, 1e-12, 1e-12);
  // By hand: channel 0, x = 1: 2 * (1 - 1) / sqrt(4.001) + 0.5 = 0.5;
  // channel 1, x = 10: -1 * (10 + 2) / sqrt(0.251) + 1.
  EXPECT_NEAR(y.to_vector()[0], 0.5, 1e-12);
  EXPECT_NEAR(y.to_vector()[3], -12.0 / std::sqrt(0.251) + 1.0, 1e-12);
  EXPECT_EQ(rm.to_vector(), run_mean);
  EXPECT_EQ(rv.to_vector(), run_var);
  // Frozen mode normalises a single value per channel (training could not).
  Tensor one = Tensor::from_vector(std::vector<double>{3.0, 3.0}, {1, 2, 1, 1}, DType::F64);
  EXPECT_NO_THROW(batch_norm2d(one, vec64(gamma), vec64(beta), rm, rv, p));
}

TEST(BatchNorm, FrozenBackwardByHand) {
  // dx = gamma * invstd * dy; dgamma = sum dy * xhat; dbeta = sum dy.
  Tensor x = Tensor::from_vector(kX, kXShape, DType::F64).set_requires_grad(true);
  Tensor gamma = vec64({2.0, -1.0}).set_requires_grad(true);
  Tensor beta = vec64({0.5, 1.0}).set_requires_grad(true);
  Tensor rm = vec64({1.0, -2.0}), rv = vec64({3.0, 0.0});
  BatchNormParams p;
  p.training = false;
  p.eps = 1.0;  // invstd = 1 / sqrt(4) = 0.5 and 1 / sqrt(1) = 1
  Tensor y = batch_norm2d(x, gamma, beta, rm, rv, p);
  y.backward(Tensor::ones(kXShape, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1, -1}));
  // xhat sums: channel 0: (0 + 1 + 2 + 3 + 4 + 5) * 0.5; channel 1: sum(x + 2) * 1.
  EXPECT_TENSORS_CLOSE(vec64({7.5, 72.0}), gamma.grad(), 1e-12, 1e-12);
  EXPECT_TENSORS_CLOSE(vec64({6.0, 6.0}), beta.grad(), 1e-12, 1e-12);
}

TEST(BatchNorm, BackwardUsesTheStatisticsOfItsOwnForward) {
  // Changing the running statistics between forward and backward (as the
  // next training step does) must not change this step's gradient.
  auto grad_of_x = [](bool clobber) {
    Tensor x = Tensor::from_vector(kX, kXShape, DType::F64).set_requires_grad(true);
    Tensor rm = vec64({1.0, -2.0}), rv = vec64({4.0, 0.25});
    BatchNormParams p;
    p.training = false;
    Tensor y = batch_norm2d(x, vec64({2.0, -1.0}), vec64({0.5, 1.0}), rm, rv, p);
    if (clobber) {
      rm.fill_(100.0);
      rv.fill_(100.0);
    }
    y.backward(Tensor::ones(kXShape, DType::F64));
    return x.grad().to_vector();
  };
  EXPECT_EQ(grad_of_x(false), grad_of_x(true));
}

TEST(BatchNorm, TrainingGradientOfASumIsZero) {
  // d/dx sum(y) = gamma * invstd / M * (M - M - xhat * 0) = 0: the batch mean
  // absorbs any shift of x. A hand-derivable property of the training backward.
  Tensor x = Tensor::from_vector(kX, kXShape, DType::F64).set_requires_grad(true);
  Tensor rm = vec64({0, 0}), rv = vec64({1, 1});
  Tensor y = batch_norm2d(x, vec64({2.0, -1.0}), vec64({0.5, 1.0}), rm, rv, BatchNormParams{});
  y.backward(Tensor::ones(kXShape, DType::F64));
  EXPECT_TENSORS_CLOSE(Tensor::zeros(kXShape, DType::F64), x.grad(), 0, 1e-12);
}

test::GradFn bn_fn(const BatchNormParams& p) {
  // Inputs: x, gamma, beta, running_mean, running_var (the last two not checked).
  return [p](const std::vector<Tensor>& in) {
    Tensor rm = in[3], rv = in[4];
    return batch_norm2d(in[0], in[1], in[2], rm, rv, p);
  };
}

TEST(BatchNorm, GradCheckTraining) {
  Rng rng(21);
  for (double eps : {1e-5, 1e-3}) {
    BatchNormParams p;
    p.eps = eps;
    EXPECT_GRADCHECK(bn_fn(p),
                     {uniform64({3, 4, 5, 3}, rng, -2.0, 3.0), uniform64({4}, rng, 0.5, 1.5),
                      uniform64({4}, rng), uniform64({4}, rng), uniform64({4}, rng, 0.5, 2.0)},
                     {}, {3, 4});
  }
  // One value per image (H = W = 1): the statistics run over the batch only.
  BatchNormParams p;
  EXPECT_GRADCHECK(bn_fn(p),
                   {uniform64({5, 3, 1, 1}, rng), uniform64({3}, rng, 0.5, 1.5),
                    uniform64({3}, rng), uniform64({3}, rng), uniform64({3}, rng, 0.5, 2.0)},
                   {}, {3, 4});
}

TEST(BatchNorm, GradCheckFrozen) {
  Rng rng(22);
  BatchNormParams p;
  p.training = false;
  p.eps = 1e-3;
  EXPECT_GRADCHECK(bn_fn(p),
                   {uniform64({2, 3, 4, 5}, rng), uniform64({3}, rng, 0.5, 1.5),
                    uniform64({3}, rng), uniform64({3}, rng), uniform64({3}, rng, 0.5, 2.0)},
                   {}, {3, 4});
}

TEST(BatchNorm, Float32PathAgreesWithFloat64) {
  // The float32 CPU path sums in float; it must stay close to float64 on a
  // channel of 6068 values with a non-zero mean, forward and backward.
  Rng rng(23);
  Tensor x64 = uniform64({4, 3, 37, 41}, rng, 1.0, 4.0), g64 = uniform64({3}, rng, 0.5, 1.5);
  Tensor b64 = uniform64({3}, rng), dy64 = uniform64({4, 3, 37, 41}, rng);
  for (bool training : {true, false}) {
    BatchNormParams p;
    p.training = training;
    std::vector<Tensor> out;
    for (DType dt : {DType::F64, DType::F32}) {
      // clone(): to() of the same dtype returns the very tensor.
      Tensor x = x64.to(dt).clone().set_requires_grad(true);
      Tensor g = g64.to(dt).clone().set_requires_grad(true);
      Tensor rm = Tensor::full({3}, 2.5, dt), rv = Tensor::full({3}, 0.75, dt);
      Tensor y = batch_norm2d(x, g, b64.to(dt), rm, rv, p);
      y.backward(dy64.to(dt));
      for (Tensor t : {y, x.grad(), g.grad(), rm, rv}) out.push_back(t.to(DType::F64));
    }
    // The sums are compensated (kernels/batch_norm.h), so what remains is the
    // rounding of the individual float terms: about 1e-5 on dgamma, a sum of
    // 6068 products that largely cancel; below 1e-6 everywhere else.
    for (size_t i = 0; i < 5; ++i)
      EXPECT_TENSORS_CLOSE(out[i], out[i + 5], 1e-5, 1e-5)
          << "output " << i << (training ? " (training)" : " (frozen)");
  }
}

TEST(BatchNorm, Errors) {
  Tensor x = Tensor::zeros({2, 3, 4, 4});
  Tensor g = Tensor::ones({3}), b = Tensor::zeros({3});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  BatchNormParams p;
  EXPECT_NO_THROW(batch_norm2d(x, g, b, rm, rv, p));
  Tensor x3 = Tensor::zeros({2, 3, 16});
  EXPECT_THROW(batch_norm2d(x3, g, b, rm, rv, p), Error);  // not 4-D
  Tensor g4 = Tensor::ones({4}), rv4 = Tensor::ones({4}), rm2d = Tensor::zeros({3, 1});
  EXPECT_THROW(batch_norm2d(x, g4, b, rm, rv, p), Error);     // gamma of 4 channels
  EXPECT_THROW(batch_norm2d(x, g, g4, rm, rv, p), Error);     // beta of 4 channels
  EXPECT_THROW(batch_norm2d(x, g, b, rm, rv4, p), Error);     // running_var of 4
  EXPECT_THROW(batch_norm2d(x, g, b, rm2d, rv, p), Error);    // running_mean not (C)
  Tensor g64 = Tensor::ones({3}, DType::F64);
  EXPECT_THROW(batch_norm2d(x, g64, b, rm, rv, p), Error);    // mixed dtypes
  EXPECT_THROW(batch_norm2d(x, Tensor(), b, rm, rv, p), Error);  // undefined gamma
  // Training needs more than one value per channel (the unbiased variance).
  Tensor x1 = Tensor::zeros({1, 3, 1, 1});
  EXPECT_THROW(batch_norm2d(x1, g, b, rm, rv, p), Error);
  BatchNormParams bad_eps;
  bad_eps.eps = 0;
  EXPECT_THROW(batch_norm2d(x, g, b, rm, rv, bad_eps), Error);
}

// The CUDA per-channel reductions (batch norm, conv bias) address a
// channel's elements with ChannelCursor (kernels/common.h) instead of
// dividing per element. It must visit exactly the offsets the
// division gives, in order: for plane sizes below, at and above the step
// (HW 1 and 3 carry on every advance, 256 and 512 are multiples of it), each
// thread's first element, and the last image.
TEST(ChannelCursor, VisitsTheOffsetsOfTheDivision) {
  for (int64_t HW : {1, 3, 49, 255, 256, 257, 512, 3136})
    for (int64_t step : {1, 7, 256})
      for (int64_t C : {1, 3})
        for (int64_t N : {1, 2, 5}) {
          const int64_t c = C - 1, M = N * HW;
          for (int64_t first : {int64_t(0), step / 2, step - 1}) {
            if (first >= M) continue;
            ChannelCursor cur(c, C, HW, first, step);
            int64_t visited = 0;
            for (int64_t i = first; i < M; i += step, cur.advance(), ++visited) {
              const int64_t want = (i / HW * C + c) * HW + i % HW;
              ASSERT_EQ(cur.offset(), want) << "HW " << HW << " step " << step << " C " << C << " N " << N
                                            << " first " << first << " element " << i;
            }
            EXPECT_EQ(visited, (M - first + step - 1) / step);
          }
        }
}

// ---- CUDA -----------------------------------------------------------------------

TEST(BatchNormCuda, TrainingParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(31);
  for (double eps : {1e-5, 1e-3}) {
    BatchNormParams p;
    p.eps = eps;
    // A non-zero mean: the two-pass variance must not cancel.
    Tensor x = rand_uniform({3, 5, 13, 7}, rng, 2.0, 5.0);
    test::expect_cpu_cuda_parity(bn_fn(p),
                                 {x, rand_uniform({5}, rng, 0.5, 1.5), randn({5}, rng),
                                  randn({5}, rng), rand_uniform({5}, rng, 0.5, 2.0)},
                                 1e-4, 1e-4, {3, 4});
  }
}

TEST(BatchNormCuda, FrozenParityOddShapes) {
  REQUIRE_CUDA();
  Rng rng(32);
  BatchNormParams p;
  p.training = false;
  p.eps = 1e-3;
  test::expect_cpu_cuda_parity(bn_fn(p),
                               {randn({3, 5, 13, 7}, rng), rand_uniform({5}, rng, 0.5, 1.5),
                                randn({5}, rng), randn({5}, rng), rand_uniform({5}, rng, 0.5, 2.0)},
                               1e-5, 1e-5, {3, 4});
}

TEST(BatchNormCuda, RunningStatsAgreeAfterAStep) {
  REQUIRE_CUDA();
  Rng rng(33);
  // Small and odd, then one channel of more elements (6068) than a block has
  // threads many times over.
  for (Shape shape : {Shape{3, 5, 13, 7}, Shape{4, 3, 37, 41}}) {
    const int64_t C = shape[1];
    Tensor x = randn(shape, rng, 2.0);
    Tensor g = rand_uniform({C}, rng, 0.5, 1.5), b = randn({C}, rng);
    Tensor rm = randn({C}, rng), rv = rand_uniform({C}, rng, 0.5, 2.0);
    Tensor rm_g = rm.to(Device::CUDA), rv_g = rv.to(Device::CUDA);
    BatchNormParams p;
    p.momentum = 0.3;
    Tensor y = batch_norm2d(x, g, b, rm, rv, p);
    Tensor y_g = batch_norm2d(x.to(Device::CUDA), g.to(Device::CUDA), b.to(Device::CUDA), rm_g,
                              rv_g, p);
    EXPECT_TENSORS_CLOSE(y, y_g, 1e-4, 1e-4) << shape_str(shape);
    EXPECT_TENSORS_CLOSE(rm, rm_g, 1e-5, 1e-5) << shape_str(shape);
    EXPECT_TENSORS_CLOSE(rv, rv_g, 1e-5, 1e-5) << shape_str(shape);
  }
}

TEST(BatchNormCuda, DeterministicFromRunToRun) {
  REQUIRE_CUDA();
  Rng rng(34);
  Tensor x = randn({4, 3, 37, 41}, rng).to(Device::CUDA);
  Tensor g = rand_uniform({3}, rng, 0.5, 1.5).to(Device::CUDA), b = randn({3}, rng).to(Device::CUDA);
  Tensor dy = randn({4, 3, 37, 41}, rng).to(Device::CUDA);
  auto run = [&]() {
    Tensor xr = x.clone().set_requires_grad(true), gr = g.clone().set_requires_grad(true);
    Tensor rm = Tensor::zeros({3}, DType::F32, Device::CUDA);
    Tensor rv = Tensor::ones({3}, DType::F32, Device::CUDA);
    Tensor y = batch_norm2d(xr, gr, b, rm, rv, BatchNormParams{});
    y.backward(dy);
    return std::vector<Tensor>{y, rm, rv, xr.grad(), gr.grad()};
  };
  auto first = run(), second = run();
  for (size_t i = 0; i < first.size(); ++i)
    EXPECT_TENSORS_CLOSE(first[i], second[i], 0, 0) << "output " << i << " differs between runs";
}

TEST(BatchNormCuda, LargeTensorCoversTheGridStride) {
  REQUIRE_CUDA();
  Rng rng(35);
  // 2 * 8 * 1025 * 1025 elements: more than one capped grid of the
  // elementwise kernels covers.
  BatchNormParams p;
  test::expect_cpu_cuda_parity(bn_fn(p),
                               {randn({2, 8, 1025, 1025}, rng), rand_uniform({8}, rng, 0.5, 1.5),
                                randn({8}, rng), randn({8}, rng), rand_uniform({8}, rng, 0.5, 2.0)},
                               5e-4, 5e-4, {3, 4});
}

// The per-channel kernels run one block per channel along the grid's x axis.
// More channels than the 65535 blocks of a y/z axis (or of a capped
// blocks_for grid) must still each get their own block, in training and in
// frozen mode (where the reduction runs for dgamma and dbeta only).
TEST(BatchNormCuda, MoreChannelsThanA16BitGrid) {
  REQUIRE_CUDA();
  Rng rng(36);
  const int64_t C = 70001;
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "frozen");
    BatchNormParams p;
    p.training = training;
    test::expect_cpu_cuda_parity(bn_fn(p),
                                 {randn({2, C, 1, 3}, rng), rand_uniform({C}, rng, 0.5, 1.5),
                                  randn({C}, rng), randn({C}, rng), rand_uniform({C}, rng, 0.5, 2.0)},
                                 1e-4, 1e-4, {3, 4});
  }
}

// Beyond the x-axis limit of 2^31 - 1 blocks the launchers refuse clearly
// instead of truncating the block count. The check comes before any memory
// is touched, so null pointers are enough, except for dgamma: the backward
// launches its per-channel reduction only when some gradient needs it, so it
// gets a (never dereferenced) non-null pointer.
TEST(BatchNormCuda, RejectsChannelCountsBeyondTheGrid) {
  REQUIRE_CUDA();
#if SKINMTL_CUDA
  const int64_t C = int64_t(1) << 32;  // (unsigned)C would be 0
  float never_read = 0.f;
  EXPECT_THROW(batch_norm_train_stats_cuda<float>(nullptr, nullptr, nullptr, nullptr, nullptr, 1, C, 2,
                                           1e-5, 0.1, cuda::stream()),
               Error);
  EXPECT_THROW(batch_norm_backward_cuda<float>(nullptr, &never_read, nullptr, nullptr, nullptr, nullptr,
                                        nullptr, nullptr, nullptr, 1, C, 2, true, true, cuda::stream()),
               Error);
#endif
}

TEST(BatchNormCuda, RejectsMixedDevices) {
  REQUIRE_CUDA();
  Tensor x = Tensor::zeros({2, 3, 4, 4}, DType::F32, Device::CUDA);
  Tensor g = Tensor::ones({3}, DType::F32, Device::CUDA);
  Tensor b = Tensor::zeros({3}, DType::F32, Device::CUDA);
  Tensor rm = Tensor::zeros({3}, DType::F32, Device::CUDA);
  Tensor rv = Tensor::ones({3}, DType::F32, Device::CUDA);
  EXPECT_NO_THROW(batch_norm2d(x, g, b, rm, rv, BatchNormParams{}));
  Tensor g_cpu = Tensor::ones({3}), rv_cpu = Tensor::ones({3});
  EXPECT_THROW(batch_norm2d(x, g_cpu, b, rm, rv, BatchNormParams{}), Error);
  EXPECT_THROW(batch_norm2d(x, g, b, rm, rv_cpu, BatchNormParams{}), Error);
}

}  // namespace
}  // namespace skinmtl
