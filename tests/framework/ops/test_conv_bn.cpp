// conv2d_bn and conv_bn (batch norm folded into the convolution, for
// inference): the kernels against their formulas, the folded op against the
// three ops it replaces (float64 and float32, odd shapes, with and without a
// conv bias and a ReLU), the cases where conv_bn must not fold, whole networks
// with folding on and off, and CPU-vs-CUDA parity.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "framework/autograd.h"
#include "framework/module.h"
#include "framework/precision.h"
#include "kernels/conv2d.h"
#include "kernels/fold_batch_norm.h"
#include "nets/resnet50.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// A batch norm with statistics and an affine part far from the identity, so
// that folding them wrongly cannot go unnoticed.
struct BnValues {
  Tensor gamma, beta, mean, var;
};

BnValues bn_values(int64_t K, Rng& rng, DType dtype) {
  return {rand_uniform({K}, rng, 0.5, 2.0, dtype), randn({K}, rng, 1.0, dtype), randn({K}, rng, 0.5, dtype),
          rand_uniform({K}, rng, 0.2, 3.0, dtype)};
}

// What conv2d_bn replaces: conv2d, batch norm with the running statistics,
// + residual, ReLU.
Tensor three_ops(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, BnValues v, double eps,
                 bool relu, const Tensor& residual = Tensor()) {
  BatchNormParams bp;
  bp.eps = eps;
  bp.training = false;
  Tensor y = batch_norm2d(conv2d(x, w, b, p), v.gamma, v.beta, v.mean, v.var, bp);
  if (residual.defined()) y = add(y, residual);
  return relu ? skinmtl::relu(y) : y;
}

// Restores the folding setting when a test ends, however it ends.
struct FoldGuard {
  BatchNormFolding prev = batch_norm_folding();
  ~FoldGuard() { set_batch_norm_folding(prev); }
};

// ---- the kernels ----------------------------------------------------------------------------

TEST(FoldBatchNorm, KernelFollowsTheFormula) {
  Rng rng(1);
  const int64_t K = 5, CRS = 7;
  const Tensor w = randn({K, CRS}, rng, 1.0, DType::F64), b = randn({K}, rng, 1.0, DType::F64);
  const BnValues v = bn_values(K, rng, DType::F64);
  const double eps = 1e-3;
  for (bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "with a conv bias" : "without");
    Tensor wf = Tensor::full({K, CRS}, std::nan(""), DType::F64), bf = Tensor::full({K}, std::nan(""), DType::F64);
    fold_batch_norm_cpu<double>(wf.data<double>(), bf.data<double>(), w.data<double>(),
                                with_bias ? b.data<double>() : nullptr, v.gamma.data<double>(),
                                v.beta.data<double>(), v.mean.data<double>(), v.var.data<double>(), eps, K, CRS);
    const auto W = w.to_vector(), B = b.to_vector(), G = v.gamma.to_vector(), Be = v.beta.to_vector(),
               M = v.mean.to_vector(), V = v.var.to_vector(), WF = wf.to_vector(), BF = bf.to_vector();
    for (int64_t k = 0; k < K; ++k) {
      const double s = G[k] / std::sqrt(V[k] + eps);
      EXPECT_NEAR(BF[k], ((with_bias ? B[k] : 0.0) - M[k]) * s + Be[k], 1e-12) << "channel " << k;
      for (int64_t i = 0; i < CRS; ++i) EXPECT_NEAR(WF[k * CRS + i], W[k * CRS + i] * s, 1e-12);
    }
  }
}

TEST(FoldBatchNorm, BiasActAddsPerChannelAndTheResidualThenClamps) {
  const int64_t N = 2, K = 3, HW = 4;
  const std::vector<double> b = {0.5, -1.0, 2.0};
  std::vector<double> r(N * K * HW);
  for (size_t i = 0; i < r.size(); ++i) r[i] = (double)(i % 5) - 2.0;
  for (bool with_bias : {true, false})
    for (bool residual : {false, true})
      for (bool relu : {false, true}) {
        SCOPED_TRACE(std::string(relu ? "ReLU" : "identity") + (residual ? ", residual" : "") +
                     (with_bias ? "" : ", no bias"));
        std::vector<double> y(N * K * HW);
        for (size_t i = 0; i < y.size(); ++i) y[i] = (double)i * 0.25 - 3.0;
        const std::vector<double> before = y;
        bias_act_cpu<double>(y.data(), with_bias ? b.data() : nullptr, residual ? r.data() : nullptr, N, K, HW,
                             relu);
        for (size_t i = 0; i < y.size(); ++i) {
          const double v = before[i] + (with_bias ? b[(i / HW) % K] : 0.0) + (residual ? r[i] : 0.0);
          EXPECT_EQ(y[i], relu ? std::max(v, 0.0) : v) << "element " << i;
        }
      }
  // ReLU of NaN is 0 here, as kernels/relu.h's max(x, 0) select gives.
  double nan_y = std::numeric_limits<double>::quiet_NaN(), zero = 0;
  bias_act_cpu<double>(&nan_y, &zero, nullptr, 1, 1, 1, true);
  EXPECT_EQ(nan_y, 0.0);
}

// The backward kernels against the chain rule written out, accumulating into
// buffers that already hold values, each output optional.
TEST(FoldBatchNorm, BackwardKernelsFollowTheChainRuleAndAccumulate) {
  Rng rng(13);
  const int64_t K = 4, CRS = 6;
  const double eps = 1e-3;
  const Tensor w = randn({K, CRS}, rng, 1.0, DType::F64), b = randn({K}, rng, 1.0, DType::F64);
  const Tensor dwf = randn({K, CRS}, rng, 1.0, DType::F64), dbf = randn({K}, rng, 1.0, DType::F64);
  const BnValues v = bn_values(K, rng, DType::F64);
  const auto W = w.to_vector(), B = b.to_vector(), G = v.gamma.to_vector(), M = v.mean.to_vector(),
             V = v.var.to_vector(), DWF = dwf.to_vector(), DBF = dbf.to_vector();
  for (bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "with a conv bias" : "without");
    std::vector<double> dw(K * CRS, 0.5), db(K, -0.25), dgamma(K, 1.0), dbeta(K, 2.0);
    fold_weight_backward_cpu<double>(dw.data(), dgamma.data(), dwf.data<double>(), w.data<double>(),
                                     v.gamma.data<double>(), v.var.data<double>(), eps, K, CRS);
    fold_bias_backward_cpu<double>(db.data(), dgamma.data(), dbeta.data(), dbf.data<double>(),
                                   with_bias ? b.data<double>() : nullptr, v.gamma.data<double>(),
                                   v.mean.data<double>(), v.var.data<double>(), eps, K);
    for (int64_t k = 0; k < K; ++k) {
      const double invstd = 1 / std::sqrt(V[k] + eps), s = G[k] * invstd, bk = with_bias ? B[k] : 0.0;
      double dot = 0;
      for (int64_t i = 0; i < CRS; ++i) {
        EXPECT_NEAR(dw[k * CRS + i], 0.5 + s * DWF[k * CRS + i], 1e-12);
        dot += W[k * CRS + i] * DWF[k * CRS + i];
      }
      EXPECT_NEAR(dgamma[k], 1.0 + invstd * dot + invstd * (bk - M[k]) * DBF[k], 1e-12) << "channel " << k;
      EXPECT_NEAR(db[k], -0.25 + s * DBF[k], 1e-12);
      EXPECT_NEAR(dbeta[k], 2.0 + DBF[k], 1e-12);
    }
  }
  // Outputs not wanted are null and untouched; the others still come out.
  std::vector<double> dgamma(K, 0.0);
  fold_weight_backward_cpu<double>(nullptr, dgamma.data(), dwf.data<double>(), w.data<double>(),
                                   v.gamma.data<double>(), v.var.data<double>(), eps, K, CRS);
  fold_bias_backward_cpu<double>(nullptr, nullptr, nullptr, dbf.data<double>(), b.data<double>(),
                                 v.gamma.data<double>(), v.mean.data<double>(), v.var.data<double>(), eps, K);
  EXPECT_NE(dgamma[0], 0.0);
}

// The op on the tape, in float64: the folded weights and bias, and a whole
// training unit relu(conv2d(x, f.w, f.b) + r), against finite differences.
TEST(FoldBatchNorm, GradCheck) {
  Rng rng(14);
  const double eps = 1e-3;
  // Inputs: x, w, b, gamma, beta, mean, var, r (mean and var not checked).
  auto inputs = [&](bool with_bias) {
    return std::vector<Tensor>{test::uniform64({2, 3, 6, 5}, rng), test::uniform64({4, 3, 3, 3}, rng),
                               with_bias ? test::uniform64({4}, rng) : Tensor(),
                               test::uniform64({4}, rng, 0.5, 1.5), test::uniform64({4}, rng),
                               test::uniform64({4}, rng), test::uniform64({4}, rng, 0.5, 2.0),
                               test::uniform64({2, 4, 6, 5}, rng)};
  };
  auto fold = [eps](const std::vector<Tensor>& in) {
    return fold_batch_norm(in[1], in[2], in[3], in[4], in[5], in[6], eps);
  };
  const std::vector<int> stats = {5, 6};
  for (bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "with a conv bias" : "without");
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return fold(in).w; }, inputs(with_bias), {}, stats);
    EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return fold(in).b; }, inputs(with_bias), {}, stats);
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& in) {
          const FoldedBatchNorm f = fold(in);
          return relu(add(conv2d(in[0], f.w, f.b, Conv2dParams::make(1, 1)), in[7]));
        },
        inputs(with_bias), {}, stats);
  }
}

// ---- the op against the three ops --------------------------------------------------------------

struct FoldCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
};

const FoldCase kCases[] = {
    {"3x3/2, odd sizes", {3, 5, 11, 9}, {7, 5, 3, 3}, Conv2dParams::make(2, 1)},
    {"1x1", {2, 6, 7, 5}, {4, 6, 1, 1}, Conv2dParams{}},
    {"7x7/2 stem-like", {2, 3, 19, 17}, {8, 3, 7, 7}, Conv2dParams::make(2, 3)},
    {"dilation 2", {2, 4, 9, 11}, {3, 4, 3, 3}, Conv2dParams::make(1, 2, 2)},
};

TEST(ConvBn, FoldedEqualsTheThreeOpsInFloat64) {
  NoGradGuard no_grad;
  Rng rng(2);
  for (const FoldCase& c : kCases)
    for (bool bias : {true, false})
      for (bool relu : {true, false}) {
        SCOPED_TRACE(std::string(c.name) + (bias ? ", conv bias" : "") + (relu ? ", ReLU" : ""));
        const Tensor x = randn(c.x, rng, 1.0, DType::F64), w = randn(c.w, rng, 0.3, DType::F64);
        const Tensor b = bias ? randn({c.w[0]}, rng, 1.0, DType::F64) : Tensor();
        const BnValues v = bn_values(c.w[0], rng, DType::F64);
        const Tensor folded = conv2d_bn(x, w, b, c.p, v.gamma, v.beta, v.mean, v.var, 1e-3, relu);
        EXPECT_TENSORS_CLOSE(three_ops(x, w, b, c.p, v, 1e-3, relu), folded, 1e-12, 1e-12);
      }
}

TEST(ConvBn, FoldedTakesTheResidualBeforeTheReLU) {
  NoGradGuard no_grad;
  Rng rng(10);
  for (const FoldCase& c : kCases) {
    SCOPED_TRACE(c.name);
    const Tensor x = randn(c.x, rng, 1.0, DType::F64), w = randn(c.w, rng, 0.3, DType::F64);
    const BnValues v = bn_values(c.w[0], rng, DType::F64);
    const Tensor shape_of_y = conv2d(x, w, Tensor(), c.p);
    const Tensor r = randn(shape_of_y.shape(), rng, 1.0, DType::F64);
    const Tensor folded = conv2d_bn(x, w, Tensor(), c.p, v.gamma, v.beta, v.mean, v.var, 1e-3, true, r);
    EXPECT_TENSORS_CLOSE(three_ops(x, w, Tensor(), c.p, v, 1e-3, true, r), folded, 1e-12, 1e-12);
  }
  // A residual of another shape is refused, by name.
  const Tensor x = randn({1, 2, 5, 5}, rng), w = randn({3, 2, 3, 3}, rng);
  const BnValues v = bn_values(3, rng, DType::F32);
  // (A (1, 3, 4, 5) residual for a (1, 3, 5, 5) output.)
  EXPECT_ERROR_WITH(conv2d_bn(x, w, Tensor(), Conv2dParams::make(1, 1), v.gamma, v.beta, v.mean, v.var, 1e-5, true,
                              Tensor::zeros({1, 3, 4, 5})),
                    "residual");
}

TEST(ConvBn, FoldedMatchesTheThreeOpsInFloat32) {
  NoGradGuard no_grad;
  Rng rng(3);
  for (const FoldCase& c : kCases) {
    SCOPED_TRACE(c.name);
    const Tensor x = randn(c.x, rng), w = randn(c.w, rng, 0.3), b = randn({c.w[0]}, rng);
    const BnValues v = bn_values(c.w[0], rng, DType::F32);
    const Tensor folded = conv2d_bn(x, w, b, c.p, v.gamma, v.beta, v.mean, v.var, 1e-5, true);
    EXPECT_TENSORS_CLOSE(three_ops(x, w, b, c.p, v, 1e-5, true), folded, 1e-5, 1e-5);
  }
}

TEST(ConvBn, RefusesWhereAGradientIsWanted) {
  Rng rng(4);
  Tensor x = randn({1, 2, 5, 5}, rng), w = randn({3, 2, 3, 3}, rng);
  const BnValues v = bn_values(3, rng, DType::F32);
  w.set_requires_grad(true);
  EXPECT_ERROR_WITH(conv2d_bn(x, w, Tensor(), Conv2dParams::make(1, 1), v.gamma, v.beta, v.mean, v.var, 1e-5, true),
                    "inference", "fold_batch_norm");
  NoGradGuard no_grad;  // inside one, the same call is fine
  EXPECT_EQ(conv2d_bn(x, w, Tensor(), Conv2dParams::make(1, 1), v.gamma, v.beta, v.mean, v.var, 1e-5, true).shape(),
            (Shape{1, 3, 5, 5}));
}

// ---- conv_bn: when it folds and when it must not --------------------------------------------------

// A conv and batch norm with non-trivial statistics, as modules.
struct Unit {
  Rng rng{5};
  Conv2d conv{4, 6, 3, Conv2dParams::make(1, 1), /*bias=*/true, rng};
  BatchNorm2d bn{6, 1e-3};
  Unit() {
    const BnValues v = bn_values(6, rng, DType::F32);
    bn.gamma->value.copy_from(v.gamma);
    bn.beta->value.copy_from(v.beta);
    bn.running_mean->copy_from(v.mean);
    bn.running_var->copy_from(v.var);
  }
};

TEST(ConvBn, FoldsOnlyWithFixedStatistics) {
  FoldGuard guard;
  Unit u;
  Rng rng(6);
  const Tensor x = randn({2, 4, 9, 7}, rng);
  u.bn.eval();
  set_batch_norm_folding(BatchNormFolding::Off);
  Tensor unfolded;
  {
    NoGradGuard no_grad;
    unfolded = conv_bn(u.conv, u.bn, x, true);
  }
  EXPECT_TRUE(test::bitwise_equal(unfolded, relu(u.bn.forward(u.conv.forward(x)))));  // off: the three ops exactly
  set_batch_norm_folding(BatchNormFolding::Always);
  Tensor folded;
  {
    NoGradGuard no_grad;
    folded = conv_bn(u.conv, u.bn, x, true);
  }
  // Folded: the same function, rounded differently (which shows the fold ran).
  EXPECT_TENSORS_CLOSE(unfolded, folded, 1e-5, 1e-5);
  EXPECT_FALSE(test::bitwise_equal(unfolded, folded));

  // With the tape on, the fold is recorded (fold_batch_norm, then conv2d and
  // the ReLU): the same function again, rounded as the training path rounds.
  Tensor taped = conv_bn(u.conv, u.bn, x, true);
  EXPECT_TENSORS_CLOSE(unfolded, taped, 1e-5, 1e-5);
  EXPECT_FALSE(test::bitwise_equal(taped, unfolded));
  ASSERT_TRUE(taped.requires_grad());

  // Batch statistics (training mode, not frozen): no fold, even without a
  // tape; the running statistics are updated as the batch norm does.
  u.bn.train();
  const Tensor mean_before = u.bn.running_mean->clone();
  {
    NoGradGuard no_grad;
    conv_bn(u.conv, u.bn, x, true);
  }
  EXPECT_FALSE(test::bitwise_equal(mean_before, *u.bn.running_mean));
  // Frozen statistics in training mode fold again.
  u.bn.frozen = true;
  {
    NoGradGuard no_grad;
    const Tensor frozen = conv_bn(u.conv, u.bn, x, true);
    EXPECT_TENSORS_CLOSE(relu(u.bn.forward(u.conv.forward(x))), frozen, 1e-5, 1e-5);
  }
}

// Turns bfloat16 autocast on for a scope.
struct Bf16Scope {
  Bf16Scope() { set_autocast_bf16(true); }
  ~Bf16Scope() { set_autocast_bf16(false); }
};

// The largest |a - b| over the largest |b|: bfloat16 keeps 8 significant
// bits, so a few times 2^-8 (0.4%) is one rounding's worth.
double relative_gap(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to(Device::CPU).to_vector(), vb = b.to(Device::CPU).to_vector();
  double gap = 0, scale = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    gap = std::max(gap, std::fabs(va[i] - vb[i]));
    scale = std::max(scale, std::fabs(vb[i]));
  }
  return gap / scale;
}

// Under bfloat16 autocast conv_bn folds too: the convolution in bfloat16 with
// the folded weights rounded, one bias pass rounded once. The three ops round
// after the convolution, the batch norm and the add; so the two agree to a
// few bfloat16 roundings, and both to the float32 result.
TEST(ConvBn, FoldsUnderBfloat16Autocast) {
  FoldGuard guard;
  set_batch_norm_folding(BatchNormFolding::Always);
  NoGradGuard no_grad;
  Rng rng(7);
  for (const FoldCase& c : kCases)
    for (bool residual : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (residual ? ", residual" : ""));
      const Tensor x = randn(c.x, rng), w = randn(c.w, rng, 0.3), b = randn({c.w[0]}, rng);
      const BnValues v = bn_values(c.w[0], rng, DType::F32);
      const Tensor r = residual ? randn(conv2d(x, w, Tensor(), c.p).shape(), rng) : Tensor();
      const Tensor want = three_ops(x, w, b, c.p, v, 1e-3, true, r);  // float32
      Tensor folded, unfolded;
      {
        Bf16Scope bf16;
        const Tensor rb = residual ? r.to(DType::BF16) : Tensor();
        folded = conv2d_bn(x, w, b, c.p, v.gamma, v.beta, v.mean, v.var, 1e-3, true, rb);
        unfolded = three_ops(x, w, b, c.p, v, 1e-3, true, rb);
      }
      EXPECT_EQ(folded.dtype(), DType::BF16);
      EXPECT_EQ(folded.shape(), want.shape());
      EXPECT_LT(relative_gap(folded, want), 0.015);
      EXPECT_LT(relative_gap(unfolded, want), 0.015);
      EXPECT_LT(relative_gap(folded, unfolded), 0.015);
    }
}

TEST(ConvBn, UnderBfloat16AutocastTheModuleFoldsAndAFloat32ResidualIsRefused) {
  FoldGuard guard;
  Unit u;
  u.bn.eval();
  Rng rng(11);
  const Tensor x = randn({2, 4, 9, 7}, rng), r = randn({2, 6, 9, 7}, rng);
  Bf16Scope bf16;
  NoGradGuard no_grad;
  set_batch_norm_folding(BatchNormFolding::Off);
  // Unfolded: the convolution, then batch_norm2d_act, which rounds once
  // where the batch norm, add and ReLU ops round after each.
  const Tensor three = conv_bn(u.conv, u.bn, x, true, r.to(DType::BF16));
  EXPECT_LT(relative_gap(three, relu(add(u.bn.forward(u.conv.forward(x)), r.to(DType::BF16)))), 0.01);
  set_batch_norm_folding(BatchNormFolding::Always);
  EXPECT_TRUE(conv_bn_folds(u.conv, u.bn, x));
  const Tensor folded = conv_bn(u.conv, u.bn, x, true, r.to(DType::BF16));
  EXPECT_EQ(folded.dtype(), DType::BF16);
  EXPECT_FALSE(test::bitwise_equal(folded, three));  // the fold ran
  EXPECT_LT(relative_gap(folded, three), 0.015);
  // A float32 shortcut beside a bfloat16 convolution: conv_bn runs the three
  // ops (the add widens to float32, as without folding); conv2d_bn refuses it.
  EXPECT_EQ(conv_bn(u.conv, u.bn, x, true, r).dtype(), DType::F32);
  EXPECT_ERROR_WITH(conv2d_bn(x, u.conv.weight->value, u.conv.bias->value, u.conv.params, u.bn.gamma->value,
                              u.bn.beta->value, *u.bn.running_mean, *u.bn.running_var, u.bn.eps, true, r),
                    "residual", "bfloat16");
}

// In training the fold runs where it costs less than the batch norm: where
// the convolution's outputs per channel (N*P*Q) are at least its weights per
// channel (C*R*S). The unit's 3x3 convolution of 4 channels has 36 weights
// per channel: a 6x6 image (36 outputs) folds, a 5x7 one (35) does not.
// Inference always folds; Always and Off do what they say.
TEST(ConvBn, TrainingFoldsWhereTheOutputsOutnumberTheWeights) {
  FoldGuard guard;
  Unit u;
  u.bn.train();
  u.bn.frozen = true;
  Rng rng(16);
  const Tensor pays = randn({1, 4, 6, 6}, rng), costs = randn({1, 4, 5, 7}, rng);
  EXPECT_TRUE(training_fold_pays(u.conv, pays));
  EXPECT_FALSE(training_fold_pays(u.conv, costs));
  set_batch_norm_folding(BatchNormFolding::WherePays);
  EXPECT_TRUE(conv_bn_folds(u.conv, u.bn, pays));
  EXPECT_FALSE(conv_bn_folds(u.conv, u.bn, costs));
  // Not folded: the three ops exactly; folded: rounded otherwise.
  EXPECT_TRUE(test::bitwise_equal(conv_bn(u.conv, u.bn, costs, true), relu(u.bn.forward(u.conv.forward(costs)))));
  EXPECT_FALSE(test::bitwise_equal(conv_bn(u.conv, u.bn, pays, true), relu(u.bn.forward(u.conv.forward(pays)))));
  {
    NoGradGuard no_grad;
    EXPECT_TRUE(conv_bn_folds(u.conv, u.bn, costs));
  }
  set_batch_norm_folding(BatchNormFolding::Always);
  EXPECT_TRUE(conv_bn_folds(u.conv, u.bn, costs));
  set_batch_norm_folding(BatchNormFolding::Off);
  EXPECT_FALSE(conv_bn_folds(u.conv, u.bn, pays));
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(conv_bn_folds(u.conv, u.bn, pays));
  }

  // ResNet-50's layer3 and layer4 at 224 and batch 20 (framework/module.h):
  // layer4's 3x3 (4608 weights per channel over 20 x 7 x 7 = 980 outputs) and
  // its reduction from 2048 channels do not fold, its expansion to 2048 (512
  // weights) and layer3's 3x3 (2304 over 3920) do.
  Rng wr(17);
  const Conv2d l4_3x3(512, 512, 3, Conv2dParams::make(1, 1), false, wr), l4_reduce(2048, 512, 1, {}, false, wr),
      l4_expand(512, 2048, 1, {}, false, wr), l3_3x3(256, 256, 3, Conv2dParams::make(1, 1), false, wr);
  EXPECT_FALSE(training_fold_pays(l4_3x3, Tensor::zeros({20, 512, 7, 7})));
  EXPECT_FALSE(training_fold_pays(l4_reduce, Tensor::zeros({20, 2048, 7, 7})));
  EXPECT_TRUE(training_fold_pays(l4_expand, Tensor::zeros({20, 512, 7, 7})));
  EXPECT_TRUE(training_fold_pays(l3_3x3, Tensor::zeros({20, 256, 14, 14})));
}

// Training with a frozen batch norm folds on the tape: the output and the
// gradients of x, the residual, w, b, gamma and beta are those of the three
// ops, and the batch norm's statistics stay as they were.
TEST(ConvBn, TrainingWithFrozenStatisticsFoldsWithTheUnfoldedGradients) {
  FoldGuard guard;
  Rng rng(15);
  const Tensor x0 = randn({2, 4, 9, 7}, rng), r0 = randn({2, 6, 9, 7}, rng), seed = randn({2, 6, 9, 7}, rng);
  struct Run {
    Tensor y, dx, dr;
    std::vector<Tensor> dparams;
  };
  auto run = [&](bool fold) {
    set_batch_norm_folding(fold ? BatchNormFolding::Always : BatchNormFolding::Off);
    Unit u;  // the same weights and statistics every time (Rng 5)
    u.bn.train();
    u.bn.frozen = true;
    EXPECT_EQ(conv_bn_folds(u.conv, u.bn, x0), fold);
    Tensor x = x0.clone(), r = r0.clone();
    x.set_requires_grad(true);
    r.set_requires_grad(true);
    const Tensor mean_before = u.bn.running_mean->clone();
    const Tensor y = conv_bn(u.conv, u.bn, x, true, r);
    sum(mul(y, seed)).backward();
    EXPECT_TRUE(test::bitwise_equal(mean_before, *u.bn.running_mean));
    Run out{y.detach(), x.grad(), r.grad(), {}};
    for (Parameter* p : {u.conv.weight, u.conv.bias, u.bn.gamma, u.bn.beta}) out.dparams.push_back(p->value.grad());
    return out;
  };
  const Run three = run(false), folded = run(true);
  EXPECT_FALSE(test::bitwise_equal(three.y, folded.y));  // the fold ran
  EXPECT_TENSORS_CLOSE(three.y, folded.y, 1e-5, 1e-5);
  EXPECT_TENSORS_CLOSE(three.dx, folded.dx, 1e-4, 1e-5);
  EXPECT_TENSORS_CLOSE(three.dr, folded.dr, 1e-5, 1e-5);
  const char* names[] = {"conv weight", "conv bias", "gamma", "beta"};
  for (size_t i = 0; i < three.dparams.size(); ++i) {
    SCOPED_TRACE(names[i]);
    ASSERT_TRUE(folded.dparams[i].defined());
    EXPECT_TENSORS_CLOSE(three.dparams[i], folded.dparams[i], 1e-4, 1e-4);
  }
}

// The training fold under bfloat16 autocast: conv2d casts x and the folded
// weights to bfloat16 (recorded casts), so the gradients reach the float32
// w, gamma and beta through them; all within bfloat16's rounding of the
// float32 unfolded unit's.
TEST(ConvBn, TrainingFoldUnderBfloat16AutocastKeepsTheGradients) {
  FoldGuard guard;
  Rng rng(18);
  const Tensor x0 = randn({2, 4, 9, 7}, rng), seed = randn({2, 6, 9, 7}, rng);
  auto run = [&](bool fold, bool bf16) {
    set_batch_norm_folding(fold ? BatchNormFolding::Always : BatchNormFolding::Off);
    set_autocast_bf16(bf16);
    Unit u;
    u.bn.train();
    u.bn.frozen = true;
    const Tensor y = conv_bn(u.conv, u.bn, x0, true);
    EXPECT_EQ(y.dtype(), bf16 ? DType::BF16 : DType::F32);
    sum(mul(as_f32(y), seed)).backward();
    set_autocast_bf16(false);
    std::vector<Tensor> g = {as_f32(y).detach()};
    for (Parameter* p : {u.conv.weight, u.conv.bias, u.bn.gamma, u.bn.beta}) g.push_back(p->value.grad());
    return g;
  };
  const std::vector<Tensor> want = run(false, false), got = run(true, true);
  const char* names[] = {"y", "conv weight", "conv bias", "gamma", "beta"};
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(names[i]);
    ASSERT_TRUE(got[i].defined());
    EXPECT_LT(relative_gap(got[i], want[i]), 0.03);
  }
}

// In bfloat16 training the fold writes the weights in bfloat16 itself
// (fold_batch_norm's weight_dtype) instead of folding in float32 and casting:
// the same bits forward, and the same gradients for x, w, b, gamma and beta
// (the convolution's bfloat16 dwf widened in the fold's backward instead of
// by the cast's). Bit for bit, on the CPU.
TEST(ConvBn, Bfloat16FoldWritesWhatAFloat32FoldAndACastWould) {
  Rng rng(31);
  const Conv2dParams p = Conv2dParams::make(1, 1);
  const Tensor x0 = randn({2, 5, 9, 7}, rng), w0 = randn({6, 5, 3, 3}, rng, 0.3), b0 = randn({6}, rng);
  const BnValues v = bn_values(6, rng, DType::F32);
  const Tensor seed = randn({2, 6, 9, 7}, rng);
  auto run = [&](bool fold_to_bf16) {
    Bf16Scope bf16;
    std::vector<Tensor> in = {x0.clone(), w0.clone(), b0.clone(), v.gamma.clone(), v.beta.clone()};
    for (Tensor& t : in) t.set_requires_grad(true);
    const FoldedBatchNorm f =
        fold_to_bf16 ? fold_batch_norm(in[1], in[2], in[3], in[4], v.mean, v.var, 1e-3, DType::BF16)
                     : fold_batch_norm(in[1], in[2], in[3], in[4], v.mean, v.var, 1e-3);
    EXPECT_EQ(f.w.dtype(), fold_to_bf16 ? DType::BF16 : DType::F32);
    EXPECT_EQ(f.b.dtype(), DType::F32);
    const Tensor y = conv2d(in[0], f.w, f.b, p);  // casts a float32 f.w itself
    EXPECT_EQ(y.dtype(), DType::BF16);
    sum(mul(as_f32(y), seed)).backward();
    std::vector<std::vector<double>> out = {cast(f.w.detach(), DType::BF16).to_vector(), as_f32(y).to_vector()};
    for (const Tensor& t : in) out.push_back(t.grad().to_vector());
    return out;
  };
  const auto want = run(false), got = run(true);
  const char* names[] = {"folded weights", "y", "dx", "dw", "db", "dgamma", "dbeta"};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << names[i];
  // Only float32 weights fold into bfloat16.
  const Tensor w64 = w0.to(DType::F64);
  EXPECT_ERROR_WITH(fold_batch_norm(w64, Tensor(), v.gamma.to(DType::F64), v.beta.to(DType::F64),
                                    v.mean.to(DType::F64), v.var.to(DType::F64), 1e-3, DType::BF16),
                    "fold_batch_norm", "bfloat16 for float32 w");
}

// Batch norms as a trained network has them, not the initial 1, 0, 0, 1
// (frozen: normalising with them in training too).
void give_trained_batch_norms(ResNet50& net, Rng& rng, bool frozen = false) {
  net.apply([&rng, frozen](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
      const Shape k = bn->gamma->value.shape();
      bn->gamma->value.copy_from(rand_uniform(k, rng, 0.5, 1.5));
      bn->beta->value.copy_from(randn(k, rng, 0.1));
      bn->running_mean->copy_from(randn(k, rng, 0.1));
      bn->running_var->copy_from(rand_uniform(k, rng, 0.5, 2.0));
      bn->frozen = frozen;
    }
  });
}

// Whole networks: the Keras ResNet-50 trunk (conv biases, eps 1e-3) and the
// Yang et al. decoder, evaluated with folding on and off.
TEST(ConvBn, ResNet50EvaluatesTheSameFolded) {
  FoldGuard guard;
  Rng rng(8);
  ResNet50 net(keras_resnet50(5), rng);
  give_trained_batch_norms(net, rng);
  net.eval();
  const Tensor x = randn({2, 3, 64, 64}, rng);
  NoGradGuard no_grad;
  set_batch_norm_folding(BatchNormFolding::Off);
  const Tensor unfolded = net.forward(x);
  set_batch_norm_folding(BatchNormFolding::Always);
  const Tensor folded = net.forward(x);
  EXPECT_TENSORS_CLOSE(unfolded, folded, 1e-4, 1e-4);
  EXPECT_FALSE(test::bitwise_equal(unfolded, folded));
  // In bfloat16 (every block's units fold, the residual ones too): 53 layers
  // of bfloat16 rounding either way, so a looser bound.
  Bf16Scope bf16;
  set_batch_norm_folding(BatchNormFolding::Off);
  const Tensor unfolded16 = net.forward(x);
  set_batch_norm_folding(BatchNormFolding::Always);
  const Tensor folded16 = net.forward(x);
  EXPECT_FALSE(test::bitwise_equal(unfolded16, folded16));
  EXPECT_LT(relative_gap(folded16, unfolded), 0.03);
  EXPECT_LT(relative_gap(unfolded16, unfolded), 0.03);
  std::printf("  ResNet-50 logits, largest gap over largest value, to float32: bfloat16 %.4f, folded %.4f\n",
              relative_gap(unfolded16, unfolded), relative_gap(folded16, unfolded));
}

// Training a ResNet-50 with frozen batch norms (Liao & Luo's setting): every
// unit folds on the tape, and the loss and every parameter's gradient are
// those of the unfolded network.
TEST(ConvBn, ResNet50TrainsTheSameFoldedWithFrozenBatchNorms) {
  FoldGuard guard;
  struct Grads {
    double loss;
    std::vector<std::vector<double>> g;
  };
  auto run = [](bool fold) {
    set_batch_norm_folding(fold ? BatchNormFolding::Always : BatchNormFolding::Off);
    Rng rng(16);
    ResNet50 net(keras_resnet50(5), rng);
    give_trained_batch_norms(net, rng, /*frozen=*/true);
    net.train();
    const Tensor x = randn({2, 3, 48, 48}, rng);
    const Tensor loss = softmax_cross_entropy(net.forward(x), Tensor::from_vector(std::vector<double>{1, 3}, {2}));
    loss.backward();
    Grads out{loss.item(), {}};
    for (Parameter* p : net.parameters()) out.g.push_back(p->value.grad().to_vector());
    return out;
  };
  const Grads three = run(false), folded = run(true);
  EXPECT_NEAR(three.loss, folded.loss, 1e-5 * std::fabs(three.loss));
  ASSERT_EQ(three.g.size(), folded.g.size());
  double worst = 0;
  for (size_t i = 0; i < three.g.size(); ++i) {
    double gap = 0, scale = 1e-12;
    for (size_t j = 0; j < three.g[i].size(); ++j) {
      gap = std::max(gap, std::fabs(three.g[i][j] - folded.g[i][j]));
      scale = std::max(scale, std::fabs(three.g[i][j]));
    }
    worst = std::max(worst, gap / scale);
  }
  EXPECT_LT(worst, 1e-3) << "largest gap over largest gradient, parameter by parameter";
  EXPECT_GT(worst, 0.0) << "bit for bit equal: the fold did not run";
  std::printf("  ResNet-50, frozen batch norms: loss %.6f (folded %.6f), largest relative gradient gap %.2g\n",
              three.loss, folded.loss, worst);
}

// ---- CUDA ---------------------------------------------------------------------------------------

// Restores the convolution backend when a test ends, however it ends.
struct ConvBackendGuard {
  ConvBackend prev = conv_backend();
  ~ConvBackendGuard() { set_conv_backend(prev); }
};

// The GPU convolution backends every CUDA test here runs on.
const ConvBackend kGpuBackends[] = {ConvBackend::CuDNN, ConvBackend::CuDNNGraph, ConvBackend::Im2col};
const char* backend_name(ConvBackend b) {
  return b == ConvBackend::CuDNN ? "cuDNN" : b == ConvBackend::CuDNNGraph ? "cuDNN graph API" : "im2col";
}

#if SKINMTL_CUDA
// Whether conv2d_bn ran as cuDNN's fused graph for this case (graph API
// backend), printed with cuDNN's reason when it did not.
void report_fused(const FoldCase& c, bool residual, bool relu) {
  std::string why;
  size_t bytes = 0;
  const bool fused = conv2d_bias_act_cudnn_graph_supported(test::conv2d_shape_for(c.x, c.w, c.p), residual, relu,
                                                           16, &bytes, &why);
  std::printf("  cuDNN fused conv+bias%s%s graph, %s: %s\n", residual ? "+residual" : "", relu ? "+ReLU" : "",
              c.name, fused ? "used" : ("not available: " + why).c_str());
}
#endif

// On every backend; with the graph API one, also through cuDNN's fused
// conv -> bias -> residual -> ReLU graph where cuDNN offers an engine for it
// (the test prints, per case, whether it did, and cuDNN's reason if not).
TEST(ConvBnCuda, MatchesTheCpu) {
  REQUIRE_CUDA();
  ConvBackendGuard guard;
  NoGradGuard no_grad;
  const Device d = Device::CUDA;
  for (ConvBackend backend : kGpuBackends) {
    set_conv_backend(backend);
    SCOPED_TRACE(backend_name(backend));
    Rng rng(9);
    for (const FoldCase& c : kCases)
      for (bool relu : {true, false})
        for (bool residual : {false, true}) {
          SCOPED_TRACE(std::string(c.name) + (relu ? ", ReLU" : "") + (residual ? ", residual" : ""));
          const Tensor x = randn(c.x, rng), w = randn(c.w, rng, 0.3), b = randn({c.w[0]}, rng);
          const BnValues v = bn_values(c.w[0], rng, DType::F32);
          const Tensor r = residual ? randn(conv2d(x, w, Tensor(), c.p).shape(), rng) : Tensor();
          const Tensor cpu = conv2d_bn(x, w, b, c.p, v.gamma, v.beta, v.mean, v.var, 1e-3, relu, r);
          const Tensor gpu = conv2d_bn(x.to(d), w.to(d), b.to(d), c.p, v.gamma.to(d), v.beta.to(d), v.mean.to(d),
                                       v.var.to(d), 1e-3, relu, residual ? r.to(d) : Tensor());
          EXPECT_TENSORS_CLOSE(cpu, gpu.to(Device::CPU), 1e-4, 1e-4);
#if SKINMTL_CUDA
          if (backend == ConvBackend::CuDNNGraph) report_fused(c, residual, relu);
#endif
        }
  }
}

// bfloat16 on the GPU (cuDNN bfloat16 convolution, bias_act's bfloat16
// kernel) against the CPU's bfloat16 path (float32 kernels, rounded where the
// GPU rounds): the same roundings, the sums in another order.
TEST(ConvBnCuda, MatchesTheCpuInBfloat16) {
  REQUIRE_CUDA();
  NoGradGuard no_grad;
  const Device d = Device::CUDA;
  Rng rng(12);
  Bf16Scope bf16;
  for (const FoldCase& c : kCases)
    for (bool residual : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (residual ? ", residual" : ""));
      const Tensor x = randn(c.x, rng), w = randn(c.w, rng, 0.3), b = randn({c.w[0]}, rng);
      const BnValues v = bn_values(c.w[0], rng, DType::F32);
      const Tensor r = residual ? randn(conv2d(x, w, Tensor(), c.p).shape(), rng).to(DType::BF16) : Tensor();
      const Tensor cpu = conv2d_bn(x, w, b, c.p, v.gamma, v.beta, v.mean, v.var, 1e-3, true, r);
      const Tensor gpu = conv2d_bn(x.to(d), w.to(d), b.to(d), c.p, v.gamma.to(d), v.beta.to(d), v.mean.to(d),
                                   v.var.to(d), 1e-3, true, residual ? r.to(d) : Tensor());
      ASSERT_EQ(gpu.dtype(), DType::BF16);
      EXPECT_LT(relative_gap(gpu, cpu), 0.02);
    }
}

// The fold on the tape on the GPU (fold kernel, the convolution's backward on
// each backend, the two fold backward kernels) against the CPU: the training
// unit's output and every gradient.
// The bfloat16 fold on the GPU: the same folded weights as the CPU's, bit for
// bit (a float32 product rounded once), and from the same bfloat16 dwf the
// same gradients for w, b, gamma and beta up to the order of the sums.
TEST(ConvBnCuda, Bfloat16FoldMatchesTheCpu) {
  REQUIRE_CUDA();
  Rng rng(32);
  const Tensor w0 = randn({7, 5, 3, 3}, rng, 0.3), b0 = randn({7}, rng), seed = randn({7, 5, 3, 3}, rng);
  const Tensor seed_b = randn({7}, rng);
  const BnValues v = bn_values(7, rng, DType::F32);
  auto run = [&](Device dev) {
    std::vector<Tensor> in = {w0.to(dev), b0.to(dev), v.gamma.to(dev), v.beta.to(dev)};
    for (Tensor& t : in) t.set_requires_grad(true);
    const FoldedBatchNorm f =
        fold_batch_norm(in[0], in[1], in[2], in[3], v.mean.to(dev), v.var.to(dev), 1e-3, DType::BF16);
    // dwf arrives in bfloat16 (as_f32's backward rounds the seed), as a bfloat16 convolution's dw does.
    sum(add(sum(mul(as_f32(f.w), seed.to(dev))), sum(mul(f.b, seed_b.to(dev))))).backward();
    std::vector<Tensor> out = {as_f32(f.w.detach()).to(Device::CPU)};
    for (const Tensor& t : in) out.push_back(t.grad().to(Device::CPU));
    return out;
  };
  const std::vector<Tensor> cpu = run(Device::CPU), gpu = run(Device::CUDA);
  EXPECT_EQ(cpu[0].to_vector(), gpu[0].to_vector()) << "folded weights";
  const char* names[] = {"folded weights", "dw", "db", "dgamma", "dbeta"};
  for (size_t i = 1; i < cpu.size(); ++i) EXPECT_TENSORS_CLOSE(cpu[i], gpu[i], 1e-5, 1e-5) << names[i];
}

TEST(ConvBnCuda, TrainingWithAFrozenBatchNormMatchesTheCpu) {
  REQUIRE_CUDA();
  ConvBackendGuard guard;
  const Device d = Device::CUDA;
  for (ConvBackend backend : kGpuBackends) {
    set_conv_backend(backend);
    SCOPED_TRACE(backend_name(backend));
    Rng rng(17);
    for (const FoldCase& c : kCases) {
      SCOPED_TRACE(c.name);
      const Tensor x = randn(c.x, rng), w = randn(c.w, rng, 0.3), b = randn({c.w[0]}, rng);
      const BnValues v = bn_values(c.w[0], rng, DType::F32);
      const Tensor r = randn(conv2d(x, w, Tensor(), c.p).shape(), rng), seed = randn(r.shape(), rng);
      auto grads = [&](Device dev) {
        std::vector<Tensor> in = {x.to(dev), w.to(dev), b.to(dev), v.gamma.to(dev), v.beta.to(dev), r.to(dev)};
        for (Tensor& t : in) t.set_requires_grad(true);
        const FoldedBatchNorm f = fold_batch_norm(in[1], in[2], in[3], in[4], v.mean.to(dev), v.var.to(dev), 1e-3);
        const Tensor y = relu(add(conv2d(in[0], f.w, f.b, c.p), in[5]));
        sum(mul(y, seed.to(dev))).backward();
        std::vector<Tensor> out = {y.detach().to(Device::CPU)};
        for (const Tensor& t : in) out.push_back(t.grad().to(Device::CPU));
        return out;
      };
      const std::vector<Tensor> cpu = grads(Device::CPU), gpu = grads(d);
      const char* names[] = {"y", "dx", "dw", "db", "dgamma", "dbeta", "dresidual"};
      for (size_t i = 0; i < cpu.size(); ++i) {
        SCOPED_TRACE(names[i]);
        EXPECT_TENSORS_CLOSE(cpu[i], gpu[i], 1e-3, 1e-4);
      }
    }
  }
}

}  // namespace
}  // namespace skinmtl
