// SGD with momentum (framework/optimizer.h, kernels/sgd.h): the update against
// numbers worked out by hand, the per-parameter multipliers, the Caffe form of
// momentum when the lr changes, convergence on a quadratic, checkpoint
// buffers, the CUDA kernel against the CPU loop, and the error cases.
#include <cmath>

#include "framework/autograd.h"
#include "framework/optimizer.h"
#include "kernels/sgd.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

Parameter make_param(const std::string& name, const std::vector<double>& values, DType dtype,
                     float lr_mult = 1, float decay_mult = 1) {
  Tensor v = Tensor::from_vector(values, {(int64_t)values.size()}, dtype);
  v.set_requires_grad(true);
  return Parameter{name, v, lr_mult, decay_mult};
}

// Makes w.grad() equal to `g` through the tape: zero the accumulated gradient,
// then backpropagate `g` through the identity y = 1 * w (dw += 1 * g).
void set_grad(const Tensor& w, const Tensor& g) {
  Tensor(w).zero_grad();
  scale(w, 1.0).backward(g.to(w.device()));
}
void set_grad(const Tensor& w, const std::vector<double>& g) {
  set_grad(w, Tensor::from_vector(g, w.shape(), w.dtype()));
}

// Three steps of lr 0.01, momentum 0.9, weight decay 0.1, worked by hand.
//
// weight: lr_mult 10, decay_mult 1 -> lr_eff 0.1, wd_eff 0.1. Element 0:
//   w0 = 1.0
//   step 1, g = 0.5:  v = 0.9*0     + 0.1*(0.5 + 0.1*1.0)  = 0.06      w = 0.94
//   step 2, g = 1.0:  v = 0.9*0.06  + 0.1*(1.0 + 0.1*0.94) = 0.1634    w = 0.7766
//   step 3, g = 0.0:  v = 0.9*0.1634 + 0.1*(0 + 0.1*0.7766) = 0.154826 w = 0.621774
// (elements 1 and 2 the same way).
// bias: lr_mult 20 (Liao & Luo's new layers), decay_mult 0 -> lr_eff 0.2, no decay:
//   b0 = 0.3:  g 1 -> v 0.2, b 0.1;   g 1 -> v 0.38, b -0.28;   g -2 -> v -0.058, b -0.222
//   b1 = -0.1: g -0.5 -> v -0.1, b 0; g -0.5 -> v -0.19, b 0.19; g 0 -> v -0.171, b 0.361
// frozen: lr_mult 0 -> never moves, its momentum stays 0.
void check_hand_computed(DType dtype, double tol) {
  Parameter w = make_param("fc.weight", {1.0, -2.0, 0.5}, dtype, 10, 1);
  Parameter b = make_param("fc.bias", {0.3, -0.1}, dtype, 20, 0);
  Parameter f = make_param("frozen", {4.0}, dtype, 0, 1);
  SGD opt({&w, &b, &f}, SGDOptions{0.01, 0.9, 0.1});
  const std::vector<std::vector<double>> gw = {{0.5, 0.5, -1.0}, {1.0, 0.0, 0.25}, {0.0, -1.0, 0.5}};
  const std::vector<std::vector<double>> gb = {{1.0, -0.5}, {1.0, -0.5}, {-2.0, 0.0}};
  const std::vector<std::vector<double>> want_w = {
      {0.94, -2.03, 0.595}, {0.7766, -2.0367, 0.64955}, {0.621774, -1.922363, 0.6421495}};
  const std::vector<std::vector<double>> want_vw = {
      {0.06, 0.03, -0.095}, {0.1634, 0.0067, -0.05455}, {0.154826, -0.114337, 0.0074005}};
  const std::vector<std::vector<double>> want_b = {{0.1, 0.0}, {-0.28, 0.19}, {-0.222, 0.361}};
  const std::vector<std::vector<double>> want_vb = {{0.2, -0.1}, {0.38, -0.19}, {-0.058, -0.171}};
  for (int t = 0; t < 3; ++t) {
    set_grad(w.value, gw[t]);
    set_grad(b.value, gb[t]);
    set_grad(f.value, {1.0});
    opt.step();
    for (int i = 0; i < 3; ++i) {
      EXPECT_NEAR(w.value.to_vector()[i], want_w[t][i], tol) << "weight, step " << t + 1;
      EXPECT_NEAR(opt.momentum_buffers()[0].to_vector()[i], want_vw[t][i], tol)
          << "weight momentum, step " << t + 1;
    }
    for (int i = 0; i < 2; ++i) {
      EXPECT_NEAR(b.value.to_vector()[i], want_b[t][i], tol) << "bias, step " << t + 1;
      EXPECT_NEAR(opt.momentum_buffers()[1].to_vector()[i], want_vb[t][i], tol)
          << "bias momentum, step " << t + 1;
    }
    EXPECT_EQ(f.value.to_vector()[0], 4.0);
    EXPECT_EQ(opt.momentum_buffers()[2].to_vector()[0], 0.0);
  }
  EXPECT_EQ(opt.steps(), 3);
  // Momentum buffers live with their parameters.
  EXPECT_EQ(opt.momentum_buffers()[0].dtype(), dtype);
  EXPECT_EQ(opt.momentum_buffers()[0].shape(), w.value.shape());
}

TEST(SGD, HandComputedThreeStepsFloat) { check_hand_computed(DType::F32, 2e-6); }
TEST(SGD, HandComputedThreeStepsDouble) { check_hand_computed(DType::F64, 1e-12); }

// Caffe keeps the lr inside the momentum, so after set_lr the old velocity is
// carried over unscaled. w = 1, g = 1 at every step, no decay, momentum 0.9:
//   lr 0.1:  v = 0.1,                 w = 0.9
//   lr 0.01: v = 0.9*0.1 + 0.01 = 0.1, w = 0.8
// (PyTorch would give b = 1.9 and w = 0.9 - 0.01*1.9 = 0.881.)
TEST(SGD, LrChangeFollowsCaffe) {
  Parameter w = make_param("w", {1.0}, DType::F64);
  SGD opt({&w}, SGDOptions{0.1, 0.9, 0.0});
  set_grad(w.value, {1.0});
  opt.step();
  EXPECT_NEAR(w.value.item(), 0.9, 1e-15);
  opt.set_lr(0.01);
  EXPECT_EQ(opt.lr(), 0.01);
  set_grad(w.value, {1.0});
  opt.step();
  EXPECT_NEAR(w.value.item(), 0.8, 1e-15);
}

// f(w) = sum((w - c)^2) + (wd / 2) ||w||^2, where weight decay adds the second
// term: SGD must find its minimum w* = 2c / (2 + wd). The gradient of the
// first term, 2 (w - c), comes from the tape: r = w + (-1) c, backpropagated
// with the seed 2 r (d sum(r^2) / dr = 2 r, dr / dw = 1).
void minimise_quadratic(double wd, Device device) {
  const std::vector<double> c = {3.0, -1.5, 0.25, 7.0, -4.0};
  Tensor cv = Tensor::from_vector(c, {5}).to(device);
  Tensor w0 = Tensor::zeros({5}, DType::F32, device);
  w0.set_requires_grad(true);
  Parameter w{"w", w0};
  SGD opt({&w}, SGDOptions{0.05, 0.9, wd});
  double last_loss = 0;
  for (int it = 0; it < 300; ++it) {
    opt.zero_grad();
    Tensor r = add(w.value, scale(cv, -1.0));
    r.backward(scale(r.detach(), 2.0));
    opt.step();
    last_loss = 0;
    for (double ri : r.detach().to(Device::CPU).to_vector()) last_loss += ri * ri;
  }
  std::vector<double> got = w.value.to(Device::CPU).to_vector();
  for (size_t i = 0; i < c.size(); ++i)
    EXPECT_NEAR(got[i], 2 * c[i] / (2 + wd), 1e-4) << "element " << i << ", wd " << wd;
  if (wd == 0) {
    EXPECT_LT(last_loss, 1e-8);
  }
}

TEST(SGD, MinimisesQuadratic) {
  minimise_quadratic(0.0, Device::CPU);
  minimise_quadratic(0.5, Device::CPU);
}

TEST(SGD, ZeroGradZeroesButKeepsGradients) {
  Parameter a = make_param("a", {1.0, 2.0}, DType::F32);
  Parameter b = make_param("b", {3.0}, DType::F32);
  SGD opt({&a, &b}, SGDOptions{});
  set_grad(a.value, {5.0, -6.0});
  // Gradients accumulate across backward calls until zeroed.
  scale(a.value, 1.0).backward(Tensor::from_vector(std::vector<double>{1.0, 1.0}, {2}));
  EXPECT_EQ(a.value.grad().to_vector(), (std::vector<double>{6.0, -5.0}));
  opt.zero_grad();
  ASSERT_TRUE(a.value.grad().defined());
  EXPECT_EQ(a.value.grad().to_vector(), (std::vector<double>{0.0, 0.0}));
  EXPECT_FALSE(b.value.grad().defined());  // a parameter without a gradient stays without
}

TEST(SGD, SkipsParametersWithoutGradient) {
  Parameter a = make_param("a", {1.0, 2.0}, DType::F64);
  Parameter b = make_param("b", {3.0}, DType::F64);  // never reached by backward
  SGD opt({&a, &b}, SGDOptions{0.1, 0.9, 0.5});
  set_grad(a.value, {1.0, 1.0});
  opt.step();
  opt.step();
  // a moved; b had no gradient, so not even weight decay touched it.
  EXPECT_NE(a.value.to_vector()[0], 1.0);
  EXPECT_EQ(b.value.to_vector(), (std::vector<double>{3.0}));
  EXPECT_TRUE(opt.momentum_buffers()[0].defined());
  EXPECT_FALSE(opt.momentum_buffers()[1].defined());
  // A zeroed (but defined) gradient is a real zero: weight decay applies.
  set_grad(b.value, {0.0});
  opt.step();
  EXPECT_NEAR(b.value.item(), 3.0 - 0.1 * 0.5 * 3.0, 1e-15);
}

// Saving the momentum and restoring it in a fresh optimizer continues the run
// exactly.
TEST(SGD, MomentumBuffersResumeExactly) {
  Parameter a = make_param("a", {1.0, -1.0, 0.5}, DType::F32, 10, 1);
  Parameter b = make_param("b", {0.2}, DType::F32, 20, 0);
  SGD opt({&a, &b}, SGDOptions{0.01, 0.9, 1e-4});
  set_grad(a.value, {0.3, -0.2, 0.1});
  set_grad(b.value, {1.0});
  opt.step();
  opt.step();
  // The "checkpoint": copies of the values and of the momentum buffers.
  Parameter a2{"a", a.value.clone().set_requires_grad(true), 10, 1};
  Parameter b2{"b", b.value.clone().set_requires_grad(true), 20, 0};
  std::vector<Tensor> saved;
  for (const Tensor& v : opt.momentum_buffers()) saved.push_back(v.clone());
  SGD resumed({&a2, &b2}, SGDOptions{0.01, 0.9, 1e-4});
  resumed.set_momentum_buffers(saved);
  saved[0].fill_(123.0);  // the optimizer copied them: no aliasing
  for (int t = 0; t < 2; ++t) {
    set_grad(a.value, {0.5, 0.5, -0.5});
    set_grad(b.value, {-1.0});
    set_grad(a2.value, {0.5, 0.5, -0.5});
    set_grad(b2.value, {-1.0});
    opt.step();
    resumed.step();
  }
  EXPECT_EQ(a.value.to_vector(), a2.value.to_vector());
  EXPECT_EQ(b.value.to_vector(), b2.value.to_vector());
  // Wrong count, shape or dtype is refused, and leaves the buffers alone.
  EXPECT_THROW(resumed.set_momentum_buffers({Tensor()}), Error);
  EXPECT_THROW(resumed.set_momentum_buffers({Tensor::zeros({2}), Tensor::zeros({1})}), Error);
  EXPECT_THROW(resumed.set_momentum_buffers({Tensor::zeros({3}, DType::F64), Tensor()}), Error);
  EXPECT_TRUE(resumed.momentum_buffers()[1].defined());
  // Undefined entries mean "no momentum yet".
  resumed.set_momentum_buffers({Tensor(), Tensor()});
  EXPECT_FALSE(resumed.momentum_buffers()[0].defined());
}

// The packed path (framework/optimizer.h, "One flat buffer") against the
// plain per-parameter loop of kernels/sgd.h, run here on copies: the same
// arithmetic per element, so the same bits. Repacking must keep every
// momentum: a parameter's first gradient, a replaced value (what Module::to
// does), a changed multiplier.
struct Reference {
  std::vector<float> w, v;
};
void reference_step(Reference& r, const std::vector<float>& g, double lr, double momentum, double wd, float lr_mult,
                    float decay_mult) {
  if (r.v.empty()) r.v.assign(r.w.size(), 0.f);
  sgd_update_cpu<float>(r.w.data(), r.v.data(), g.data(), (float)(lr * lr_mult), (float)momentum,
                        (float)(wd * decay_mult), (int64_t)r.w.size());
}
std::vector<float> floats(const Tensor& t) {
  const std::vector<double> d = t.to_vector();
  return std::vector<float>(d.begin(), d.end());
}

TEST(SGD, PackedStepMatchesThePerParameterLoop) {
  Rng rng(11);
  // Sizes, multipliers; p4 gets no gradient until step 4.
  const std::vector<int64_t> sizes = {5, 3, 4, 2, 6};
  std::vector<float> lr_mult = {1, 2, 1, 10, 1}, decay_mult = {1, 0, 1, 1, 1};
  std::vector<Parameter> params;
  std::vector<Reference> ref(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    params.push_back(make_param("p" + std::to_string(i), randn({sizes[i]}, rng).to_vector(), DType::F32, lr_mult[i],
                                decay_mult[i]));
    ref[i].w = floats(params[i].value);
  }
  std::vector<Parameter*> ptrs;
  for (Parameter& p : params) ptrs.push_back(&p);
  const double lr = 0.05, momentum = 0.9, wd = 0.01;
  SGD opt(ptrs, SGDOptions{lr, momentum, wd, Packing::Always});
  auto step = [&](const std::vector<size_t>& with_grad) {
    opt.zero_grad();
    for (size_t i : with_grad) {
      const std::vector<double> g = randn({sizes[i]}, rng).to_vector();
      set_grad(params[i].value, g);
      reference_step(ref[i], std::vector<float>(g.begin(), g.end()), lr, momentum, wd, params[i].lr_mult,
                     params[i].decay_mult);
    }
    opt.step();
    for (size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_EQ(floats(params[i].value), ref[i].w) << "value of p" << i << " after step " << opt.steps();
      if (!ref[i].v.empty()) {
        EXPECT_EQ(floats(opt.momentum_buffers()[i]), ref[i].v) << "momentum of p" << i << " after step " << opt.steps();
      }
    }
  };
  for (int t = 0; t < 3; ++t) step({0, 1, 2, 3});
  // Packed: four parameters, three runs of multipliers ((1, 1): p0 then p2,
  // (2, 0): p1, (10, 1): p3), built once.
  EXPECT_EQ(opt.packed_params(), 4);
  EXPECT_EQ(opt.packed_groups(), 3);
  EXPECT_EQ(opt.packings(), 1);
  // p2 follows p0 in one buffer, at the next multiple of kPackAlign elements
  // (p0 has 5): every parameter starts as aligned as a tensor of its own.
  EXPECT_EQ(params[2].value.data<float>(), params[0].value.data<float>() + kPackAlign) << "p2 follows p0 in one buffer";
  EXPECT_EQ(params[2].value.grad().data<float>(), params[0].value.grad().data<float>() + kPackAlign);
  for (size_t i = 0; i < 4; ++i) {  // p0 is the buffers' first
    EXPECT_EQ((params[i].value.data<float>() - params[0].value.data<float>()) % kPackAlign, 0) << "p" << i;
    EXPECT_EQ((params[i].value.grad().data<float>() - params[0].value.grad().data<float>()) % kPackAlign, 0)
        << "p" << i;
  }
  // zero_grad zeroes every packed gradient and keeps it.
  opt.zero_grad();
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(floats(params[i].value.grad()), std::vector<float>(sizes[i], 0.f));
  // p4's first gradient: repacked with it, the others' momenta kept.
  step({0, 1, 2, 3, 4});
  EXPECT_EQ(opt.packed_params(), 5);
  EXPECT_EQ(opt.packings(), 2);
  step({0, 1, 2, 3, 4});
  EXPECT_EQ(opt.packings(), 2);
  // A new value for p1 (as Module::to makes): it has no gradient until the
  // next backward, so this step skips it; then it is packed again.
  params[1].value = params[1].value.clone().set_requires_grad(true);
  step({0, 2, 3, 4});
  step({0, 1, 2, 3, 4});
  EXPECT_EQ(opt.packings(), 4);
  // A changed multiplier regroups.
  params[3].lr_mult = 1;
  step({0, 1, 2, 3, 4});
  EXPECT_EQ(opt.packed_groups(), 2);
  EXPECT_EQ(opt.packings(), 5);
}

// By default only GPU parameters are packed (the CPU pays for it in memory
// and gains nothing measurable); Never keeps the GPU one by one too.
TEST(SGD, PacksOnlyOnTheGpuByDefault) {
  Parameter a = make_param("a", {1.0, 2.0}, DType::F32);
  Parameter b = make_param("b", {3.0}, DType::F32);
  SGD opt({&a, &b}, SGDOptions{0.1, 0.9, 0.5});
  set_grad(a.value, {1.0, -1.0});
  set_grad(b.value, {2.0});
  opt.step();
  EXPECT_EQ(opt.packed_params(), 0);
  EXPECT_EQ(opt.packings(), 0);
  EXPECT_NEAR(b.value.item(), 3.0 - 0.1 * (2.0 + 0.5 * 3.0), 1e-6);
}

// Parameters that share no dtype (or device) are not packed; each is updated
// by itself, as before.
TEST(SGD, MixedDtypesStayOneByOne) {
  Parameter a = make_param("a", {1.0, 2.0}, DType::F32);
  Parameter b = make_param("b", {3.0}, DType::F64);
  SGD opt({&a, &b}, SGDOptions{0.1, 0.9, 0.5, Packing::Always});
  set_grad(a.value, {1.0, -1.0});
  set_grad(b.value, {2.0});
  opt.step();
  EXPECT_EQ(opt.packed_params(), 0);
  EXPECT_NEAR(b.value.item(), 3.0 - 0.1 * (2.0 + 0.5 * 3.0), 1e-15);
  EXPECT_NEAR(a.value.to_vector()[1], 2.0 - 0.1 * (-1.0 + 0.5 * 2.0), 1e-7);
}

TEST(SGD, Errors) {
  Parameter a = make_param("a", {1.0}, DType::F32);
  Tensor plain = Tensor::ones({2});  // requires_grad not set
  Parameter p{"plain", plain};
  Parameter empty{"empty", Tensor()};
  Parameter alias{"alias", a.value};
  EXPECT_THROW(SGD({&p}, SGDOptions{}), Error);
  EXPECT_THROW(SGD({&empty}, SGDOptions{}), Error);
  EXPECT_THROW(SGD({nullptr}, SGDOptions{}), Error);
  EXPECT_THROW(SGD({&a, &alias}, SGDOptions{}), Error);  // would be updated twice
  EXPECT_THROW(SGD({&a}, SGDOptions{-1e-3, 0.9, 0}), Error);
  EXPECT_THROW(SGD({&a}, SGDOptions{1e-3, 1.0, 0}), Error);
  EXPECT_THROW(SGD({&a}, SGDOptions{1e-3, 0.9, -1}), Error);
  SGD opt({&a}, SGDOptions{});
  EXPECT_THROW(opt.set_lr(-1), Error);
  EXPECT_THROW(opt.set_lr(NAN), Error);
}

// CUDA against the CPU: three steps from the same values and gradients, with
// the 20x bias multiplier, on odd sizes (and one larger than a capped grid).
TEST(SGDCuda, ParityOddSizes) {
  REQUIRE_CUDA();
  Rng rng(7);
  const std::vector<Shape> shapes = {{37, 3, 7, 11}, {13}, {65535 * 256 + 17}};
  const std::vector<float> lr_mult = {10, 20, 1}, decay_mult = {1, 0, 1};
  std::vector<Parameter> cpu, gpu;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor w = randn(shapes[i], rng);
    cpu.push_back({"p" + std::to_string(i), w.clone().set_requires_grad(true), lr_mult[i],
                   decay_mult[i]});
    gpu.push_back({"p" + std::to_string(i), w.to(Device::CUDA).set_requires_grad(true),
                   lr_mult[i], decay_mult[i]});
  }
  std::vector<Parameter*> pc, pg;
  for (size_t i = 0; i < shapes.size(); ++i) {
    pc.push_back(&cpu[i]);
    pg.push_back(&gpu[i]);
  }
  SGD oc(pc, SGDOptions{0.01, 0.9, 1e-2}), og(pg, SGDOptions{0.01, 0.9, 1e-2});
  for (int t = 0; t < 3; ++t) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      Tensor g = randn(shapes[i], rng);
      set_grad(cpu[i].value, g);
      set_grad(gpu[i].value, g);
    }
    oc.step();
    og.step();
  }
  EXPECT_EQ(og.packed_params(), 3);  // the GPU packs by default: three runs of multipliers
  EXPECT_EQ(og.packed_groups(), 3);
  EXPECT_EQ(oc.packed_params(), 0);
  for (size_t i = 0; i < shapes.size(); ++i) {
    ASSERT_EQ(gpu[i].value.device(), Device::CUDA);
    ASSERT_EQ(og.momentum_buffers()[i].device(), Device::CUDA);
    EXPECT_TENSORS_CLOSE(cpu[i].value, gpu[i].value, 1e-5, 1e-6) << "parameter " << i;
    EXPECT_TENSORS_CLOSE(oc.momentum_buffers()[i], og.momentum_buffers()[i], 1e-5, 1e-6)
        << "momentum " << i;
  }
}

TEST(SGDCuda, MinimisesQuadratic) {
  REQUIRE_CUDA();
  minimise_quadratic(0.5, Device::CUDA);
}

}  // namespace
}  // namespace skinmtl
