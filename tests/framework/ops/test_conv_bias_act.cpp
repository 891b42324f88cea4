// conv2d_bias_act: the end of a ResNet unit (convolution, bias, + residual,
// ReLU) as one op on the tape. It must be the three ops conv2d, add and relu,
// value and gradients: on the CPU bit for bit (the same sums in the same
// order), in float64 against finite differences, in bfloat16 within its
// rounding, and on the GPU (every convolution backend) against the CPU.
// Also: the residual's checks, and conv_bn's use of it when training with a
// folded, frozen batch norm.
#include <cmath>
#include <string>

#include "framework/autograd.h"
#include "framework/module.h"
#include "framework/precision.h"
#include "kernels/fold_batch_norm.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

struct Case {
  const char* name;
  Shape x, w;
  Conv2dParams p;
};

// Odd sizes; the 3x3 s1 case has 12 x 12 outputs, one CPU GEMM per image,
// the others group images (kernels/conv2d.h): the epilogue runs per group.
const Case kCases[] = {
    {"3x3/2, odd sizes", {3, 5, 11, 9}, {7, 5, 3, 3}, Conv2dParams::make(2, 1)},
    {"3x3/1, a GEMM per image", {2, 3, 12, 12}, {4, 3, 3, 3}, Conv2dParams::make(1, 1)},
    {"1x1", {2, 6, 7, 5}, {4, 6, 1, 1}, Conv2dParams{}},
    {"dilation 2", {2, 4, 9, 11}, {3, 4, 3, 3}, Conv2dParams::make(1, 2, 2)},
};

Shape output_shape(const Case& c) {
  const Conv2dShape sh = test::conv2d_shape_for(c.x, c.w, c.p);
  return {sh.N, sh.K, sh.P, sh.Q};
}

// What conv2d_bias_act replaces.
Tensor three_ops(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, bool relu,
                 const Tensor& residual) {
  Tensor y = conv2d(x, w, b, p);
  if (residual.defined()) y = add(y, residual);
  return relu ? skinmtl::relu(y) : y;
}

// The output and the gradients of x, w, b and the residual (those defined)
// of f(x, w, b, r) under the loss sum(y * seed). With r_intermediate the
// residual reaches the op through scale(., 1), which changes no bit: as an
// intermediate, whose fresh gradient buffer the fused backward writes dy
// into (a leaf's gradient is always added to).
template <typename F>
std::vector<Tensor> value_and_grads(F f, std::vector<Tensor> in, const Tensor& seed, bool r_intermediate = false) {
  for (Tensor& t : in)
    if (t.defined()) {
      t = t.clone();  // a leaf of this run alone: its gradient starts from nothing
      t.set_requires_grad(true);
    }
  const Tensor y = f(in[0], in[1], in[2], r_intermediate && in[3].defined() ? scale(in[3], 1.0) : in[3]);
  sum(mul(y, seed.to(y.device()).to(y.dtype()))).backward();
  std::vector<Tensor> out = {y.detach().to(Device::CPU)};
  for (const Tensor& t : in)
    if (t.defined()) out.push_back(t.grad().to(Device::CPU));
  return out;
}

const char* kNames[] = {"y", "dx", "dw", "db", "dresidual"};

// On the CPU the fused op adds the bias, the residual and applies the ReLU in
// the order the three ops do ((conv + b) + r, then max(., 0)), and its
// backward hands the convolution the same dy: the same bits, float32 and
// float64, with and without each part, the residual a leaf or an
// intermediate (whose gradient buffer then holds the convolution's dy).
TEST(ConvBiasAct, IsTheThreeOpsBitForBitOnTheCpu) {
  Rng rng(3);
  for (DType dtype : {DType::F32, DType::F64})
    for (const Case& c : kCases)
      for (bool relu : {true, false})
        for (bool residual : {true, false})
          for (bool bias : {true, false})
            for (bool r_intermediate : {false, true}) {
            SCOPED_TRACE(std::string(c.name) + (dtype == DType::F32 ? ", float32" : ", float64") +
                         (relu ? ", ReLU" : "") + (residual ? ", residual" : "") + (bias ? ", bias" : "") +
                         (r_intermediate ? ", residual intermediate" : ""));
            const std::vector<Tensor> in = {randn(c.x, rng, 1.0, dtype), randn(c.w, rng, 0.3, dtype),
                                            bias ? randn({c.w[0]}, rng, 1.0, dtype) : Tensor(),
                                            residual ? randn(output_shape(c), rng, 1.0, dtype) : Tensor()};
            const Tensor seed = randn(output_shape(c), rng, 1.0, dtype);
            const std::vector<Tensor> fused = value_and_grads(
                [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& r) {
                  return conv2d_bias_act(x, w, b, c.p, relu, r);
                },
                in, seed, r_intermediate);
            const std::vector<Tensor> three = value_and_grads(
                [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& r) {
                  return three_ops(x, w, b, c.p, relu, r);
                },
                in, seed, r_intermediate);
            ASSERT_EQ(fused.size(), three.size());
            for (size_t i = 0; i < fused.size(); ++i) EXPECT_TRUE(test::bitwise_equal(three[i], fused[i])) << "output " << i;
          }
}

// The residual may be the convolution's own input (a 1x1 convolution that
// keeps the channels) or share its producer: both gradients then land in one
// buffer, which the backward must add to, not overwrite.
TEST(ConvBiasAct, TheResidualMayBeTheInputItself) {
  Rng rng(4);
  const Tensor x0 = randn({2, 3, 5, 4}, rng, 1.0, DType::F64), w = randn({3, 3, 1, 1}, rng, 0.5, DType::F64);
  const Tensor b = randn({3}, rng, 1.0, DType::F64), seed = randn({2, 3, 5, 4}, rng, 1.0, DType::F64);
  test::expect_input_as_its_residual_adds(
      [&](const Tensor& h, bool fused) {
        return fused ? conv2d_bias_act(h, w, b, Conv2dParams{}, true, h) : three_ops(h, w, b, Conv2dParams{}, true, h);
      },
      x0, seed);
}

TEST(ConvBiasAct, GradCheck) {
  Rng rng(5);
  for (const Case& c : kCases)
    for (bool relu : {true, false}) {
      SCOPED_TRACE(std::string(c.name) + (relu ? ", ReLU" : ", no ReLU"));
      const std::vector<Tensor> in = {test::uniform64(c.x, rng), test::uniform64(c.w, rng),
                                      test::uniform64({c.w[0]}, rng), test::uniform64(output_shape(c), rng)};
      EXPECT_GRADCHECK(
          [&](const std::vector<Tensor>& v) { return conv2d_bias_act(v[0], v[1], v[2], c.p, relu, v[3]); }, in);
    }
}

// The ReLU's mask comes from the output: where conv + b + r is negative the
// gradient stops, for the convolution and the residual alike.
TEST(ConvBiasAct, TheMaskStopsTheGradientOfBothBranches) {
  // A 1x1 convolution of one channel with weight 1: y = relu(x + b + r).
  Tensor x = Tensor::from_vector(std::vector<double>{1, -3, 2, -1}, {1, 1, 2, 2});
  Tensor w = Tensor::from_vector(std::vector<double>{1}, {1, 1, 1, 1});
  Tensor b = Tensor::from_vector(std::vector<double>{0.5}, {1});
  Tensor r = Tensor::from_vector(std::vector<double>{0, 1, -4, 2}, {1, 1, 2, 2});
  for (Tensor* t : {&x, &w, &b, &r}) t->set_requires_grad(true);
  const Tensor y = conv2d_bias_act(x, w, b, Conv2dParams{}, /*relu=*/true, r);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1.5, 0, 0, 1.5}));
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 0, 0, 1}));
  EXPECT_EQ(r.grad().to_vector(), (std::vector<double>{1, 0, 0, 1}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<double>{2}));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{1 * 1 + -1 * 1}));
}

TEST(ConvBiasAct, RefusesAResidualOfAnotherShapeOrDtype) {
  Rng rng(7);
  const Tensor x = randn({2, 3, 6, 5}, rng), w = randn({4, 3, 3, 3}, rng);
  const Conv2dParams p = Conv2dParams::make(1, 1);
  EXPECT_ERROR_WITH(conv2d_bias_act(x, w, Tensor(), p, true, randn({2, 4, 6, 4}, rng)),
                    "conv2d_bias_act: the residual must be the output's shape (2, 4, 6, 5)");
  EXPECT_ERROR_WITH(conv2d_bias_act(x, w, Tensor(), p, true, randn({2, 4, 6, 5}, rng, 1.0, DType::F64)),
                    "conv2d_bias_act: the residual must be", "float32");
  AutocastGuard bf16(true);
  EXPECT_ERROR_WITH(conv2d_bias_act(x, w, Tensor(), p, true, randn({2, 4, 6, 5}, rng)),
                    "a bfloat16 convolution takes a bfloat16 residual");
}

// Under bfloat16 autocast: a bfloat16 output and residual gradient, float32
// weight gradients, all within a few bfloat16 roundings of float32's (in
// the L2 norm: 2^-8 = 0.4% is one rounding).
TEST(ConvBiasAct, Bfloat16StaysWithinItsRounding) {
  Rng rng(9);
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const Tensor x = randn(c.x, rng), w = randn(c.w, rng, 0.3), b = randn({c.w[0]}, rng);
    const Tensor r = test::far_from_zero(output_shape(c), rng), seed = randn(output_shape(c), rng);
    auto run = [&](const Tensor& residual) {
      return value_and_grads(
          [&](const Tensor& x_, const Tensor& w_, const Tensor& b_, const Tensor& r_) {
            return conv2d_bias_act(x_, w_, b_, c.p, /*relu=*/true, r_);
          },
          {x, w, b, residual}, seed);
    };
    const std::vector<Tensor> f32 = run(r);
    std::vector<Tensor> bf;
    {
      AutocastGuard bf16(true);
      bf = run(r.to(DType::BF16));
    }
    EXPECT_EQ(bf[0].dtype(), DType::BF16);
    EXPECT_EQ(bf[4].dtype(), DType::BF16);
    EXPECT_EQ(bf[2].dtype(), DType::F32);
    for (size_t i = 0; i < f32.size(); ++i) EXPECT_LT(test::l2_relative_gap(bf[i], f32[i]), 0.02) << kNames[i];
  }
}

// Restores the folding setting when a test ends, however it ends.
struct FoldGuard {
  BatchNormFolding prev = batch_norm_folding();
  ~FoldGuard() { set_batch_norm_folding(prev); }
};

// Training with a frozen batch norm that folds, conv_bn records the unit's
// end as one conv2d_bias_act (after the fold), not conv2d, add and relu.
TEST(ConvBiasAct, ConvBnTrainsAFoldedUnitThroughIt) {
  FoldGuard guard;
  set_batch_norm_folding(BatchNormFolding::Always);
  Rng rng(11);
  Conv2d conv(4, 6, 3, Conv2dParams::make(1, 1), /*with_bias=*/true, rng);
  BatchNorm2d bn(6);
  bn.train();
  bn.frozen = true;
  const Tensor x = randn({2, 4, 7, 5}, rng), r = randn({2, 6, 7, 5}, rng);
  const Tensor y = conv_bn(conv, bn, x, /*relu=*/true, r);
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->name, "conv2d_bias_act");
  // A residual of another dtype (float32 into a bfloat16 unit) goes through add instead.
  AutocastGuard bf16(true);
  const Tensor mixed = conv_bn(conv, bn, x, /*relu=*/true, r);
  ASSERT_TRUE(mixed.grad_fn());
  EXPECT_EQ(mixed.grad_fn()->name, "relu");
}

// With the fusion switched off (bench_gpu's "+unfused"), conv2d_bias_act
// records the three ops it stands for: the same values, another tape.
TEST(ConvBiasAct, SwitchedOffItRecordsTheThreeOps) {
  test::EpilogueFusionGuard restore;
  Rng rng(19);
  const Tensor x = randn({2, 3, 6, 5}, rng), b = randn({4}, rng), r = randn({2, 4, 6, 5}, rng);
  Tensor w = randn({4, 3, 3, 3}, rng);
  w.set_requires_grad(true);
  const Conv2dParams p = Conv2dParams::make(1, 1);
  set_conv_epilogue_fusion(true);
  const Tensor fused = conv2d_bias_act(x, w, b, p, true, r);
  set_conv_epilogue_fusion(false);
  const Tensor three = conv2d_bias_act(x, w, b, p, true, r);
  EXPECT_EQ(fused.grad_fn()->name, "conv2d_bias_act");
  EXPECT_EQ(three.grad_fn()->name, "relu");
  EXPECT_TRUE(test::bitwise_equal(fused, three));
}

// ---- CUDA --------------------------------------------------------------------------------------

struct ConvBackendGuard {
  ConvBackend prev = conv_backend();
  ~ConvBackendGuard() { set_conv_backend(prev); }
};

// Every backend (cuDNN's legacy and graph APIs, im2col): the GPU's convolution
// without bias, then bias_act; backward, bias_act_backward, then the
// convolution's backward from its g. Output and every gradient against the CPU.
TEST(ConvBiasActCuda, MatchesTheCpuOnEveryBackend) {
  REQUIRE_CUDA();
  ConvBackendGuard guard;
  for (ConvBackend backend : {ConvBackend::CuDNN, ConvBackend::CuDNNGraph, ConvBackend::Im2col}) {
    set_conv_backend(backend);
    SCOPED_TRACE(backend == ConvBackend::CuDNN ? "cuDNN" : backend == ConvBackend::CuDNNGraph ? "cuDNN graph API"
                                                                                             : "im2col");
    Rng rng(13);
    for (const Case& c : kCases)
      for (bool relu : {true, false})
        for (bool residual : {true, false}) {
          SCOPED_TRACE(std::string(c.name) + (relu ? ", ReLU" : "") + (residual ? ", residual" : ""));
          std::vector<Tensor> in = {randn(c.x, rng), randn(c.w, rng, 0.3), randn({c.w[0]}, rng)};
          if (residual) in.push_back(randn(output_shape(c), rng));
          test::expect_cpu_cuda_parity(
              [&](const std::vector<Tensor>& v) {
                return conv2d_bias_act(v[0], v[1], v[2], c.p, relu, residual ? v[3] : Tensor());
              },
              in, 1e-4, 1e-4);
        }
  }
}

// bfloat16 on the GPU (cuDNN's bfloat16 convolution, the bfloat16 bias_act
// and bias_act_backward kernels) against the CPU's bfloat16 path (float32
// kernels, one rounding at the output): each result as a whole no further
// from the float32 one than twice the CPU's gap, plus 0.1%.
TEST(ConvBiasActCuda, Bfloat16AsAccurateAsTheCpu) {
  REQUIRE_CUDA();
  Rng rng(15);
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const Tensor x = randn(c.x, rng), w = randn(c.w, rng, 0.3), b = randn({c.w[0]}, rng);
    const Tensor r = test::far_from_zero(output_shape(c), rng), seed = randn(output_shape(c), rng);
    auto run = [&](Device dev, bool in_bf16) {
      AutocastGuard autocast(in_bf16);
      return value_and_grads(
          [&](const Tensor& x_, const Tensor& w_, const Tensor& b_, const Tensor& r_) {
            return conv2d_bias_act(x_, w_, b_, c.p, /*relu=*/true, r_);
          },
          {x.to(dev), w.to(dev), b.to(dev), in_bf16 ? r.to(DType::BF16).to(dev) : r.to(dev)}, seed);
    };
    const std::vector<Tensor> f32 = run(Device::CPU, false), cpu = run(Device::CPU, true),
                              gpu = run(Device::CUDA, true);
    for (size_t i = 0; i < f32.size(); ++i) {
      SCOPED_TRACE(kNames[i]);
      EXPECT_EQ(gpu[i].dtype(), cpu[i].dtype());
      EXPECT_LE(test::l2_relative_gap(gpu[i], f32[i]), 2 * test::l2_relative_gap(cpu[i], f32[i]) + 1e-3);
    }
  }
}

}  // namespace
}  // namespace skinmtl
