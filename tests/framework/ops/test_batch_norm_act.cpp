// batch_norm2d_act: a unit's end after a batch norm (normalise, + residual,
// ReLU) as one op on the tape. It must be the three ops batch_norm2d, add and
// relu, value, gradients and running statistics: on the CPU bit for bit (the
// same arithmetic in the same order), in float64 against finite differences,
// in bfloat16 within its rounding, and on the GPU against the CPU. Also: the
// residual's checks, conv_bn's use of it with batch statistics, and the
// switch that records the three ops instead.
#include <string>
#include <vector>

#include "framework/autograd.h"
#include "framework/module.h"
#include "framework/precision.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// Odd sizes; the last has one value per channel and image (HW = 1).
const Shape kShapes[] = {{3, 5, 7, 3}, {2, 4, 6, 5}, {5, 3, 1, 1}};

// A batch norm's parameters and running statistics for C channels, of dtype.
struct BnState {
  Tensor gamma, beta, running_mean, running_var;
  BnState(int64_t C, Rng& rng, DType dtype = DType::F32)
      : gamma(rand_uniform({C}, rng, 0.5, 1.5, dtype)),
        beta(randn({C}, rng, 1.0, dtype)),
        running_mean(randn({C}, rng, 1.0, dtype)),
        running_var(rand_uniform({C}, rng, 0.5, 2.0, dtype)) {}
  BnState copy() const {
    BnState s = *this;
    s.running_mean = running_mean.clone();
    s.running_var = running_var.clone();
    return s;
  }
};

BatchNormParams params(bool training) {
  BatchNormParams p;
  p.training = training;
  p.eps = 1e-3;
  return p;
}

// What batch_norm2d_act replaces.
Tensor three_ops(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& rm, Tensor& rv,
                 const BatchNormParams& p, bool relu, const Tensor& residual) {
  Tensor y = batch_norm2d(x, gamma, beta, rm, rv, p);
  if (residual.defined()) y = add(y, residual);
  return relu ? skinmtl::relu(y) : y;
}

// Which of x and the residual reach the op as intermediates (through
// scale(., 1), which changes no bit) rather than as leaves. The backward
// treats their gradients differently: a leaf's is always added to, an
// intermediate's fresh buffer may be written, and the fused backward then
// stores dy there (the residual's) or runs the batch norm's backward in
// place (x's).
struct Through {
  bool x_intermediate = false, r_intermediate = false;
};

// The output and the gradients of x, gamma, beta and the residual (those
// defined) of f(x, gamma, beta, r) under the loss sum(y * seed), then the
// running statistics after the call.
template <typename F>
std::vector<Tensor> value_and_grads(F f, std::vector<Tensor> in, const Tensor& seed, const BnState& stats,
                                    Through through = {}) {
  for (Tensor& t : in)
    if (t.defined()) {
      t = t.clone();  // a leaf of this run alone: its gradient starts from nothing
      t.set_requires_grad(true);
    }
  Tensor rm = stats.running_mean.clone(), rv = stats.running_var.clone();
  const Tensor x = through.x_intermediate ? scale(in[0], 1.0) : in[0];
  const Tensor r = through.r_intermediate && in[3].defined() ? scale(in[3], 1.0) : in[3];
  const Tensor y = f(x, in[1], in[2], r, rm, rv);
  sum(mul(y, seed.to(y.device()).to(y.dtype()))).backward();
  std::vector<Tensor> out = {y.detach().to(Device::CPU)};
  for (const Tensor& t : in)
    if (t.defined()) out.push_back(t.grad().to(Device::CPU));
  out.push_back(rm.to(Device::CPU));
  out.push_back(rv.to(Device::CPU));
  return out;
}

// On the CPU the fused op does the three ops' arithmetic in their order,
// and its backward hands the batch norm's backward the same dy: the same
// bits, float32 and float64, with and without each part, x and the residual
// leaves or intermediates (the backward's three ways to hold dy).
TEST(BatchNormAct, IsTheThreeOpsBitForBitOnTheCpu) {
  Rng rng(3);
  for (DType dtype : {DType::F32, DType::F64})
    for (const Shape& shape : kShapes)
      for (bool training : {true, false})
        for (bool relu : {true, false})
          for (bool residual : {true, false})
            for (Through through : {Through{false, false}, Through{true, false}, Through{false, true},
                                    Through{true, true}}) {
            SCOPED_TRACE(shape_str(shape) + (dtype == DType::F32 ? ", float32" : ", float64") +
                         (training ? ", training" : ", frozen") + (relu ? ", ReLU" : "") +
                         (residual ? ", residual" : "") + (through.x_intermediate ? ", x intermediate" : "") +
                         (through.r_intermediate ? ", residual intermediate" : ""));
            const BnState bn(shape[1], rng, dtype);
            const std::vector<Tensor> in = {randn(shape, rng, 2.0, dtype), bn.gamma, bn.beta,
                                            residual ? randn(shape, rng, 1.0, dtype) : Tensor()};
            const Tensor seed = randn(shape, rng, 1.0, dtype);
            const BatchNormParams p = params(training);
            const std::vector<Tensor> fused = value_and_grads(
                [&](const Tensor& x, const Tensor& g, const Tensor& b, const Tensor& r, Tensor& rm, Tensor& rv) {
                  return batch_norm2d_act(x, g, b, rm, rv, p, relu, r);
                },
                in, seed, bn, through);
            const std::vector<Tensor> three = value_and_grads(
                [&](const Tensor& x, const Tensor& g, const Tensor& b, const Tensor& r, Tensor& rm, Tensor& rv) {
                  return three_ops(x, g, b, rm, rv, p, relu, r);
                },
                in, seed, bn, through);
            ASSERT_EQ(fused.size(), three.size());
            for (size_t i = 0; i < fused.size(); ++i) EXPECT_TRUE(test::bitwise_equal(three[i], fused[i])) << "output " << i;
          }
}

// The shortcut may be the batch norm's own input (or share its producer):
// both gradients then land in one buffer, which the backward must add to,
// not overwrite. Against the three ops, on a leaf and on an intermediate.
TEST(BatchNormAct, TheResidualMayBeTheInputItself) {
  Rng rng(4);
  const Shape shape = {2, 3, 5, 4};
  const BnState bn(3, rng, DType::F64);
  const Tensor x0 = randn(shape, rng, 2.0, DType::F64), seed = randn(shape, rng, 1.0, DType::F64);
  test::expect_input_as_its_residual_adds(
      [&](const Tensor& h, bool fused) {
        BnState s = bn.copy();
        const BatchNormParams p = params(true);
        return fused ? batch_norm2d_act(h, s.gamma, s.beta, s.running_mean, s.running_var, p, true, h)
                     : three_ops(h, s.gamma, s.beta, s.running_mean, s.running_var, p, true, h);
      },
      x0, seed);
}

TEST(BatchNormAct, GradCheck) {
  Rng rng(5);
  const Shape shape = {3, 4, 5, 3};
  for (bool training : {true, false})
    for (bool relu : {true, false}) {
      SCOPED_TRACE(std::string(training ? "training" : "frozen") + (relu ? ", ReLU" : ", no ReLU"));
      const BnState bn(4, rng, DType::F64);
      const BatchNormParams p = params(training);
      const std::vector<Tensor> in = {test::uniform64(shape, rng, -2, 2), bn.gamma, bn.beta,
                                      test::uniform64(shape, rng)};
      EXPECT_GRADCHECK(
          [&](const std::vector<Tensor>& v) {
            BnState s = bn.copy();
            return batch_norm2d_act(v[0], v[1], v[2], s.running_mean, s.running_var, p, relu, v[3]);
          },
          in);
    }
}

// The ReLU's mask comes from the output: where bn(x) + r is negative the
// gradient stops, for the batch norm and the residual alike. Frozen, gamma 2,
// beta 1, mean 0, var 1 - eps: bn(x) = 2x + 1.
TEST(BatchNormAct, TheMaskStopsTheGradientOfBothBranches) {
  BatchNormParams p = params(false);
  Tensor x = Tensor::from_vector(std::vector<double>{1, -3, 2, -1}, {1, 1, 2, 2});
  Tensor r = Tensor::from_vector(std::vector<double>{0, 1, -6, 2}, {1, 1, 2, 2});
  Tensor gamma = Tensor::from_vector(std::vector<double>{2}, {1});
  Tensor beta = Tensor::from_vector(std::vector<double>{1}, {1});
  Tensor rm = Tensor::from_vector(std::vector<double>{0}, {1});
  Tensor rv = Tensor::from_vector(std::vector<double>{1 - p.eps}, {1});
  for (Tensor* t : {&x, &r, &gamma, &beta}) t->set_requires_grad(true);
  const Tensor y = batch_norm2d_act(x, gamma, beta, rm, rv, p, /*relu=*/true, r);
  // bn(x) + r = (3, -5, 5, -1) + (0, 1, -6, 2) = (3, -4, -1, 1).
  auto expect = [](const Tensor& t, std::vector<double> want) {
    EXPECT_TENSORS_CLOSE(Tensor::from_vector(want, t.shape(), DType::F64), t, 0, 1e-12);
  };
  expect(y, {3, 0, 0, 1});
  sum(y).backward();
  expect(x.grad(), {2, 0, 0, 2});
  expect(r.grad(), {1, 0, 0, 1});
  expect(beta.grad(), {2});
  expect(gamma.grad(), {1 + -1});  // the sum of xhat where the mask passes
}

TEST(BatchNormAct, RefusesAResidualOfAnotherShapeDtypeOrDevice) {
  Rng rng(7);
  BnState bn(3, rng);
  const Tensor x = randn({2, 3, 4, 5}, rng);
  const BatchNormParams p = params(true);
  EXPECT_ERROR_WITH(batch_norm2d_act(x, bn.gamma, bn.beta, bn.running_mean, bn.running_var, p, true,
                                     randn({2, 3, 4, 4}, rng)),
                    "batch_norm2d_act: the residual must have the input's shape, dtype and device",
                    "(2, 3, 4, 4)");
  EXPECT_ERROR_WITH(batch_norm2d_act(x, bn.gamma, bn.beta, bn.running_mean, bn.running_var, p, true,
                                     randn({2, 3, 4, 5}, rng, 1.0, DType::F64)),
                    "batch_norm2d_act: the residual must have", "float64");
}

// Under bfloat16 autocast on the CPU (widened, computed in float32, rounded
// once): a bfloat16 output and residual gradient, float32 parameter
// gradients, all within a few bfloat16 roundings of float32's.
TEST(BatchNormAct, Bfloat16StaysWithinItsRounding) {
  Rng rng(9);
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "frozen");
    const Shape shape = {3, 5, 7, 3};
    const BnState bn(5, rng);
    const Tensor x = randn(shape, rng, 2.0), r = test::far_from_zero(shape, rng), seed = randn(shape, rng);
    const BatchNormParams p = params(training);
    auto run = [&](const Tensor& x_in, const Tensor& residual) {
      return value_and_grads(
          [&](const Tensor& x_, const Tensor& g, const Tensor& b, const Tensor& r_, Tensor& rm, Tensor& rv) {
            return batch_norm2d_act(x_, g, b, rm, rv, p, /*relu=*/true, r_);
          },
          {x_in, bn.gamma, bn.beta, residual}, seed, bn);
    };
    const std::vector<Tensor> f32 = run(x, r);
    std::vector<Tensor> bf;
    {
      AutocastGuard bf16(true);
      bf = run(x.to(DType::BF16), r.to(DType::BF16));
    }
    EXPECT_EQ(bf[0].dtype(), DType::BF16);
    EXPECT_EQ(bf[1].dtype(), DType::BF16);  // dx
    EXPECT_EQ(bf[2].dtype(), DType::F32);   // dgamma
    EXPECT_EQ(bf[4].dtype(), DType::BF16);  // dresidual
    for (size_t i = 0; i < f32.size(); ++i) EXPECT_LT(test::l2_relative_gap(bf[i], f32[i]), 0.02) << "output " << i;
  }
}

// With batch statistics (Yang et al.'s training) the batch norm never folds:
// conv_bn records the convolution, then the unit's end as one batch_norm2d_act.
TEST(BatchNormAct, ConvBnTrainsABatchStatisticsUnitThroughIt) {
  Rng rng(11);
  Conv2d conv(4, 6, 3, Conv2dParams::make(1, 1), /*with_bias=*/false, rng);
  BatchNorm2d bn(6);
  bn.train();
  const Tensor x = randn({2, 4, 7, 5}, rng), r = randn({2, 6, 7, 5}, rng);
  const Tensor y = conv_bn(conv, bn, x, /*relu=*/true, r);
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->name, "batch_norm2d_act");
  EXPECT_EQ(y.grad_fn()->inputs[0].producer->name, "conv2d");
  // No ReLU and no residual: the batch norm alone.
  EXPECT_EQ(conv_bn(conv, bn, x, /*relu=*/false).grad_fn()->name, "batch_norm2d");
  // A residual of another dtype (float32 into a bfloat16 unit) goes through add instead.
  AutocastGuard bf16(true);
  const Tensor mixed = conv_bn(conv, bn, x, /*relu=*/true, r);
  ASSERT_TRUE(mixed.grad_fn());
  EXPECT_EQ(mixed.grad_fn()->name, "relu");
}

// With the fusion switched off (bench_gpu's "+unfused"), batch_norm2d_act
// records the three ops it stands for: the same values, another tape.
TEST(BatchNormAct, SwitchedOffItRecordsTheThreeOps) {
  test::EpilogueFusionGuard restore;
  Rng rng(19);
  BnState bn(4, rng);
  bn.gamma.set_requires_grad(true);
  const Tensor x = randn({2, 4, 6, 5}, rng), r = randn({2, 4, 6, 5}, rng);
  const BatchNormParams p = params(true);
  set_conv_epilogue_fusion(true);
  const Tensor fused = batch_norm2d_act(x, bn.gamma, bn.beta, bn.running_mean, bn.running_var, p, true, r);
  set_conv_epilogue_fusion(false);
  const Tensor three = batch_norm2d_act(x, bn.gamma, bn.beta, bn.running_mean, bn.running_var, p, true, r);
  EXPECT_EQ(fused.grad_fn()->name, "batch_norm2d_act");
  EXPECT_EQ(three.grad_fn()->name, "relu");
  EXPECT_TRUE(test::bitwise_equal(fused, three));
}

// ---- CUDA --------------------------------------------------------------------------------------

// The GPU's fused normalising pass, then bias_act_backward and the batch
// norm's backward: output and every gradient against the CPU, and the
// running statistics the forward updates.
TEST(BatchNormActCuda, MatchesTheCpu) {
  REQUIRE_CUDA();
  Rng rng(13);
  for (const Shape& shape : kShapes)
    for (bool training : {true, false})
      for (bool relu : {true, false})
        for (bool residual : {true, false}) {
          SCOPED_TRACE(shape_str(shape) + (training ? ", training" : ", frozen") + (relu ? ", ReLU" : "") +
                       (residual ? ", residual" : ""));
          const BnState bn(shape[1], rng);
          const BatchNormParams p = params(training);
          std::vector<Tensor> in = {randn(shape, rng, 2.0), bn.gamma, bn.beta};
          if (residual) in.push_back(randn(shape, rng));
          test::expect_cpu_cuda_parity(
              [&](const std::vector<Tensor>& v) {
                const Device d = v[0].device();
                Tensor rm = bn.running_mean.to(d), rv = bn.running_var.to(d);
                return batch_norm2d_act(v[0], v[1], v[2], rm, rv, p, relu, residual ? v[3] : Tensor());
              },
              in, 1e-4, 1e-4);
          // The running statistics the forward updates (training), or leaves (frozen).
          const Tensor x = in[0].to(Device::CUDA);
          BnState cpu = bn.copy(), gpu = bn.copy();
          gpu.running_mean = gpu.running_mean.to(Device::CUDA);
          gpu.running_var = gpu.running_var.to(Device::CUDA);
          const Tensor r = residual ? in[3] : Tensor();
          batch_norm2d_act(in[0], bn.gamma, bn.beta, cpu.running_mean, cpu.running_var, p, relu, r);
          batch_norm2d_act(x, bn.gamma.to(Device::CUDA), bn.beta.to(Device::CUDA), gpu.running_mean, gpu.running_var,
                           p, relu, residual ? r.to(Device::CUDA) : Tensor());
          EXPECT_TENSORS_CLOSE(cpu.running_mean, gpu.running_mean.to(Device::CPU), 1e-5, 1e-6);
          EXPECT_TENSORS_CLOSE(cpu.running_var, gpu.running_var.to(Device::CPU), 1e-5, 1e-6);
        }
}

// bfloat16 on the GPU (the fused pass formed in float32 and rounded once)
// against the CPU's bfloat16 path: each result as a whole no further from
// the float32 one than twice the CPU's gap, plus 0.1%.
TEST(BatchNormActCuda, Bfloat16AsAccurateAsTheCpu) {
  REQUIRE_CUDA();
  Rng rng(15);
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "frozen");
    const Shape shape = {3, 5, 7, 3};
    const BnState bn(5, rng);
    const Tensor x = randn(shape, rng, 2.0), r = test::far_from_zero(shape, rng), seed = randn(shape, rng);
    const BatchNormParams p = params(training);
    auto run = [&](Device dev, bool in_bf16) {
      AutocastGuard autocast(in_bf16);
      BnState s = bn.copy();
      s.running_mean = s.running_mean.to(dev);
      s.running_var = s.running_var.to(dev);
      return value_and_grads(
          [&](const Tensor& x_, const Tensor& g, const Tensor& b, const Tensor& r_, Tensor& rm, Tensor& rv) {
            return batch_norm2d_act(x_, g, b, rm, rv, p, /*relu=*/true, r_);
          },
          {in_bf16 ? x.to(DType::BF16).to(dev) : x.to(dev), bn.gamma.to(dev), bn.beta.to(dev),
           in_bf16 ? r.to(DType::BF16).to(dev) : r.to(dev)},
          seed, s);
    };
    const std::vector<Tensor> f32 = run(Device::CPU, false), cpu = run(Device::CPU, true),
                              gpu = run(Device::CUDA, true);
    for (size_t i = 0; i < f32.size(); ++i) {
      SCOPED_TRACE("output " + std::to_string(i));
      EXPECT_EQ(gpu[i].dtype(), cpu[i].dtype());
      EXPECT_LE(test::l2_relative_gap(gpu[i], f32[i]), 2 * test::l2_relative_gap(cpu[i], f32[i]) + 1e-3);
    }
  }
}

}  // namespace
}  // namespace skinmtl
