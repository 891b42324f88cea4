// bfloat16 (kernels/bf16.h) and mixed precision (framework/precision.h).
//
// The rounding is checked against its definition (the nearer of the two
// bfloat16 values around a float, ties to the even one), computed in double.
// The ops are checked against float64 on bfloat16-rounded inputs: under
// autocast a convolution's inputs are rounded once and its output once, so
// the error is at most half a bfloat16 step (2^-8 relative) beyond float
// rounding; a path that rounded twice, truncated, or skipped the cast would
// fail these bounds. The CUDA tests compare the GPU's bfloat16 kernels with
// the CPU's (which computes through float32).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <tuple>

#include "framework/precision.h"
#include "kernels/bf16.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// The value of bfloat16 pattern b in double; the pattern one past the largest
// finite value (the infinity) counts as 2^128, where the next step would be,
// so that the overflow threshold falls out of the same comparison (IEEE 754).
double bf16_value(uint16_t b) {
  if ((b & 0x7FFF) == 0x7F80) return std::ldexp((b & 0x8000) ? -1.0 : 1.0, 128);
  return (double)from_bits((uint32_t)b << 16);
}

// Round to nearest, ties to even, by the definition: of the two bfloat16
// values that bracket the finite float f (its upper half, and the next
// pattern away from zero), the nearer; on a tie the one with an even pattern.
uint16_t nearest_bf16(float f) {
  const uint16_t lo = (uint16_t)(bits_of(f) >> 16), hi = (uint16_t)(lo + 1);
  const double dlo = std::fabs((double)f - bf16_value(lo)), dhi = std::fabs(bf16_value(hi) - (double)f);
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1) ? hi : lo;
}

TEST(BFloat16, RoundsToNearestEvenAsDefined) {
  // Hand-picked: ties both ways, the overflow threshold, denormals, zeros.
  const uint32_t special[] = {0x3F808000u,  // 1 + 2^-8: a tie, to 1 (even)
                              0x3F818000u,  // a tie between 0x3F81 and 0x3F82: to 0x3F82
                              0x3F807FFFu, 0x3F808001u, 0xBF808000u, 0x7F7F7FFFu, 0x7F7F8000u,
                              0x7F7FFFFFu,  // the largest float: to infinity
                              0x00000001u, 0x00008000u, 0x00018000u, 0x80000000u, 0x00000000u,
                              0x3FFFFFFFu};
  for (uint32_t u : special)
    EXPECT_EQ(bf16_from_float(from_bits(u)).bits, nearest_bf16(from_bits(u))) << std::hex << u;
  EXPECT_EQ(bf16_from_float(from_bits(0x3F808000u)).bits, 0x3F80);
  EXPECT_EQ(bf16_from_float(from_bits(0x3F818000u)).bits, 0x3F82);
  EXPECT_EQ(bf16_from_float(from_bits(0x7F7FFFFFu)).bits, 0x7F80);
  // Every sign and exponent, random mantissas.
  Rng rng(7);
  int checked = 0;
  for (int i = 0; i < 200000; ++i) {
    const uint32_t u = (uint32_t)rng.randint(0, 1 << 16) << 16 | (uint32_t)rng.randint(0, 1 << 16);
    if ((u & 0x7F800000u) == 0x7F800000u) continue;  // infinities and NaNs: below
    ASSERT_EQ(bf16_from_float(from_bits(u)).bits, nearest_bf16(from_bits(u))) << std::hex << u;
    ++checked;
  }
  EXPECT_GT(checked, 190000);
  // Infinities stay, NaNs stay NaN (a low payload must not carry into infinity).
  EXPECT_EQ(bf16_from_float(std::numeric_limits<float>::infinity()).bits, 0x7F80);
  EXPECT_EQ(bf16_from_float(-std::numeric_limits<float>::infinity()).bits, 0xFF80);
  for (uint32_t nan : {0x7FC00000u, 0x7F800001u, 0xFFFFFFFFu, 0x7F80FFFFu})
    EXPECT_TRUE(std::isnan(bf16_to_float(bf16_from_float(from_bits(nan))))) << std::hex << nan;
  // Widening is exact: every bfloat16 survives the round trip.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    if ((b & 0x7F80) == 0x7F80 && (b & 0x007F)) continue;  // NaNs
    ASSERT_EQ(bf16_from_float(bf16_to_float(bf16{(uint16_t)b})).bits, b);
  }
}

TEST(BFloat16, TensorsHoldItAndConvertBothWays) {
  const std::vector<double> v = {1.0, 1.00390625, -3.14159, 1e-3, 65504.0, 0.0};
  Tensor t = Tensor::from_vector(v, {2, 3}, DType::BF16);
  EXPECT_EQ(t.dtype(), DType::BF16);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_EQ(t.nbytes(), 12u);
  EXPECT_NE(t.str().find("bfloat16"), std::string::npos) << t.str();
  const std::vector<double> back = t.to_vector();
  for (size_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(back[i], (double)bf16_to_float(bf16_from_float((float)v[i]))) << i;
  EXPECT_EQ(back[1], 1.0);  // the tie went to the even value
  EXPECT_EQ(Tensor::full({3}, 0.1, DType::BF16).to_vector()[2], (double)bf16_to_float(bf16_from_float(0.1f)));
  EXPECT_EQ(Tensor::zeros({3}, DType::BF16).to_vector(), std::vector<double>(3, 0.0));
  EXPECT_EQ(t.to(DType::F64).dtype(), DType::F64);
  EXPECT_EQ(t.to(DType::F64).to_vector(), back);
  EXPECT_EQ(Tensor::from_vector(v, {6}, DType::F64).to(DType::BF16).to_vector(), back);
  // New tensors are poisoned with NaN in the tests (tests/main.cpp), bfloat16 too.
  EXPECT_TRUE(std::isnan(Tensor::empty({1}, DType::BF16).to_vector()[0]));
  EXPECT_THROW(t.data<float>(), Error);
  EXPECT_NO_THROW(t.data<bf16>());
}

TEST(Cast, RoundsForwardAndConvertsTheGradientBack) {
  Tensor x = Tensor::from_vector(std::vector<double>{1.00390625, 2.0, -0.1}, {3}).set_requires_grad();
  Tensor y = cast(x, DType::BF16);
  EXPECT_EQ(y.dtype(), DType::BF16);
  EXPECT_EQ(y.to_vector()[0], 1.0);
  EXPECT_TRUE(cast(x, DType::F32).impl() == x.impl()) << "a cast to the same dtype is the tensor itself";
  EXPECT_THROW(cast(Tensor::zeros({2}, DType::F64), DType::BF16), Error);
  sum(scale(y, 3.0)).backward();  // scale widens y to float32 (no bfloat16 kernel)
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), DType::F32);
  EXPECT_EQ(x.grad().to_vector(), std::vector<double>(3, 3.0));

  // Into a bfloat16 leaf: its gradient is bfloat16, rounded once.
  Tensor b = Tensor::from_vector(std::vector<double>{0.5, 0.25}, {2}, DType::BF16).set_requires_grad();
  sum(scale(cast(b, DType::F32), 0.1)).backward();
  ASSERT_TRUE(b.grad().defined());
  EXPECT_EQ(b.grad().dtype(), DType::BF16);
  EXPECT_EQ(b.grad().to_vector()[1], (double)bf16_to_float(bf16_from_float(0.1f)));
}

// y under autocast against float64 on the rounded inputs: only the output's
// rounding (2^-8 relative) and float32 sums separate them.
::testing::AssertionResult within_one_rounding(const Tensor& actual, const Tensor& reference64) {
  const std::vector<double> a = actual.to(DType::F32).to_vector(), r = reference64.to_vector();
  if (a.size() != r.size()) return ::testing::AssertionFailure() << "sizes differ";
  for (size_t i = 0; i < a.size(); ++i) {
    const double bound = std::ldexp(std::fabs(r[i]), -8) * (1 + 1e-3) + 1e-4;
    if (!(std::fabs(a[i] - r[i]) <= bound))
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << r[i] << " (bound " << bound
                                           << ")";
  }
  return ::testing::AssertionSuccess();
}

Tensor rounded64(const Tensor& t) { return t.to(DType::BF16).to(DType::F64); }

using LayerOp = std::function<Tensor(const Tensor& x, const Tensor& w, const Tensor& b)>;

// op(x, w, b) under autocast against op in float64 on the bfloat16-rounded x
// and w. The bias stays float32: the reference adds it unrounded. y, and on
// the way back dx and dw, are rounded once to bfloat16 (the gradients of the
// cast copies) before reaching the float32 leaves: within one rounding; db is
// summed in float32 from the bfloat16 dy: float error only.
void expect_rounds_inputs_and_output_once(const LayerOp& op, const Tensor& x, const Tensor& w, const Tensor& b,
                                          Rng& rng) {
  Tensor xg = x.clone().set_requires_grad(), wg = w.clone().set_requires_grad(), bg = b.clone().set_requires_grad();
  Tensor y;
  {
    AutocastGuard on;
    y = op(xg, wg, bg);
  }
  EXPECT_EQ(y.dtype(), DType::BF16);
  EXPECT_FALSE(autocast_bf16()) << "the guard restores the setting";
  Tensor x64 = rounded64(x).set_requires_grad(), w64 = rounded64(w).set_requires_grad(),
         b64 = b.to(DType::F64).set_requires_grad();
  const Tensor y64 = op(x64, w64, b64);
  EXPECT_TRUE(within_one_rounding(y, y64));

  // Backward from a bfloat16-exact direction r.
  const Tensor r = rounded64(randn(y.shape(), rng));
  sum(mul(y, r.to(DType::BF16))).backward();
  sum(mul(y64, r)).backward();
  for (const auto& [g, g64, name] : {std::tuple{xg.grad(), x64.grad(), "dx"}, std::tuple{wg.grad(), w64.grad(), "dw"}}) {
    ASSERT_TRUE(g.defined()) << name;
    EXPECT_EQ(g.dtype(), DType::F32) << name << ": the leaves' gradients stay float32";
    EXPECT_TRUE(within_one_rounding(g, g64)) << name;
  }
  EXPECT_TENSORS_CLOSE(b64.grad().to(DType::F32), bg.grad(), 1e-5, 1e-5);
}

TEST(Autocast, ConvolutionRoundsItsInputsAndOutputOnce) {
  Rng rng(3);
  const Tensor x = randn({2, 3, 9, 7}, rng), w = randn({4, 3, 3, 3}, rng), b = randn({4}, rng);
  Conv2dParams p;
  p.stride_h = p.stride_w = 2;
  p.pad_h = p.pad_w = 1;
  expect_rounds_inputs_and_output_once(
      [&](const Tensor& x, const Tensor& w, const Tensor& b) { return conv2d(x, w, b, p); }, x, w, b, rng);
}

// linear under autocast, the same way.
TEST(Autocast, LinearRoundsItsInputsAndOutputOnce) {
  Rng rng(4);
  const Tensor x = randn({7, 37}, rng), w = randn({19, 37}, rng), b = randn({19}, rng);
  expect_rounds_inputs_and_output_once(linear, x, w, b, rng);

  // No input features: y is the bias, rounded once.
  AutocastGuard on;
  const Tensor y0 = linear(Tensor::zeros({2, 0}), Tensor::zeros({19, 0}), b);
  EXPECT_EQ(y0.dtype(), DType::BF16);
  const std::vector<double> b16 = b.to(DType::BF16).to_vector();
  std::vector<double> want = b16;
  want.insert(want.end(), b16.begin(), b16.end());
  EXPECT_EQ(y0.to_vector(), want);
}

// A small conv net through every op with a bfloat16 kernel, then a loss.
struct TinyConvNet {
  Tensor w1, b1, gamma, beta, mean, var, w2, fc_w, fc_b;
  explicit TinyConvNet(Rng& rng) {
    w1 = scale(randn({8, 3, 3, 3}, rng), 0.3).detach().set_requires_grad();
    b1 = scale(randn({8}, rng), 0.1).detach().set_requires_grad();
    gamma = Tensor::ones({8}).set_requires_grad();
    beta = Tensor::zeros({8}).set_requires_grad();
    mean = Tensor::zeros({8});
    var = Tensor::ones({8});
    w2 = scale(randn({8, 8, 1, 1}, rng), 0.3).detach().set_requires_grad();
    fc_w = scale(randn({3, 8}, rng), 0.3).detach().set_requires_grad();
    fc_b = Tensor::zeros({3}).set_requires_grad();
  }
  std::vector<Tensor> params() const { return {w1, b1, gamma, beta, w2, fc_w, fc_b}; }
  // dtypes[k]: the dtype of the k-th intermediate result.
  Tensor loss(const Tensor& x, const Tensor& targets, std::vector<DType>* dtypes) {
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    BatchNormParams bn;
    bn.training = true;
    const Tensor c = conv2d(x, w1, b1, p);
    const Tensor h = relu(batch_norm2d(c, gamma, beta, mean, var, bn));
    const Tensor s = add(h, conv2d(h, w2, Tensor(), Conv2dParams{}));
    Pool2dParams mp;
    mp.kernel_h = mp.kernel_w = mp.stride_h = mp.stride_w = 2;
    const Tensor pooled = global_avg_pool2d(max_pool2d(s, mp));
    const Tensor logits = linear(pooled, fc_w, fc_b);
    const Tensor l = sigmoid_cross_entropy(logits, targets);
    *dtypes = {c.dtype(), h.dtype(), s.dtype(), pooled.dtype(), logits.dtype(), l.dtype()};
    return l;
  }
};

double relative_l2(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to(DType::F32).to_vector(), vb = b.to(DType::F32).to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < va.size(); ++i) num += (va[i] - vb[i]) * (va[i] - vb[i]), den += vb[i] * vb[i];
  return std::sqrt(num / std::max(den, 1e-30));
}

TEST(Autocast, ActivationsAreBfloat16ParametersGradientsAndLossFloat32) {
  Rng rng(11);
  const Tensor x = randn({4, 3, 8, 8}, rng);
  const Tensor targets = Tensor::from_vector(std::vector<double>{1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0}, {4, 3});
  TinyConvNet net(rng);
  std::vector<DType> d32, d16;
  Tensor l32 = net.loss(x, targets, &d32);
  const double loss32 = l32.item();
  l32.backward();
  std::vector<Tensor> g32;
  for (Tensor& t : net.params()) g32.push_back(t.grad().clone()), t.zero_grad();
  Tensor l16;
  {
    AutocastGuard on;
    l16 = net.loss(x, targets, &d16);
  }
  EXPECT_EQ(d32, std::vector<DType>(6, DType::F32));
  // conv, bn + relu, add, pools, linear: bfloat16; the loss: float32.
  EXPECT_EQ(d16, (std::vector<DType>{DType::BF16, DType::BF16, DType::BF16, DType::BF16, DType::BF16, DType::F32}));
  EXPECT_NEAR(l16.item(), loss32, 2e-2 * std::fabs(loss32));
  EXPECT_NE(l16.item(), loss32) << "the same to the last bit: bfloat16 did not happen";
  l16.backward();
  // bfloat16 gradients differ from float32 ones by more than one rounding:
  // batch norm's backward subtracts means from the rounded dy, which
  // cancels. 10% of the gradient's norm is far below what a wrong path gives
  // (a lost cast, a gradient of the wrong tensor: errors of order 1).
  // b1 (index 1) feeds batch norm with batch statistics, which removes any
  // constant shift: its exact gradient is 0, and both runs give roundoff.
  const std::vector<Tensor> ps = net.params();
  for (size_t i = 0; i < ps.size(); ++i) {
    ASSERT_TRUE(ps[i].grad().defined()) << i;
    EXPECT_EQ(ps[i].grad().dtype(), DType::F32) << i;
    if (i != 1) {
      EXPECT_LT(relative_l2(ps[i].grad(), g32[i]), 0.1) << "parameter " << i;
    }
  }
  auto max_abs = [](const Tensor& t) {
    double m = 0;
    for (double v : t.to_vector()) m = std::max(m, std::fabs(v));
    return m;
  };
  EXPECT_LT(max_abs(ps[1].grad()), 1e-2 * max_abs(g32[0]));
}


TEST(Autocast, MixedDtypesWidenToFloat32AndOtherOpsTakeBfloat16) {
  Rng rng(5);
  Tensor a = randn({2, 3, 4, 4}, rng).to(DType::BF16).set_requires_grad();
  Tensor b = randn({2, 3, 4, 4}, rng).set_requires_grad();
  const Tensor s = add(a, b);
  EXPECT_EQ(s.dtype(), DType::F32);
  EXPECT_EQ(concat({a, b}, 1).dtype(), DType::F32);
  EXPECT_EQ(concat({a, a}, 1).dtype(), DType::BF16);
  EXPECT_EQ(slice(a, 1, 0, 2).dtype(), DType::BF16);
  EXPECT_EQ(upsample_nearest(a, 8, 8).dtype(), DType::BF16);
  EXPECT_EQ(reshape(a, {2, -1}).dtype(), DType::BF16);
  EXPECT_EQ(permute(a, {0, 2, 3, 1}).dtype(), DType::F32);
  EXPECT_EQ(sigmoid(a).dtype(), DType::F32);
  EXPECT_EQ(mul(a, a).dtype(), DType::F32);
  // Gradients reach each input in its own dtype.
  sum(add(concat({a, b}, 1), concat({b, a}, 1))).backward();
  EXPECT_EQ(a.grad().dtype(), DType::BF16);
  EXPECT_EQ(b.grad().dtype(), DType::F32);
  EXPECT_EQ(a.grad().to_vector(), std::vector<double>(a.numel(), 2.0));
  EXPECT_EQ(b.grad().to_vector(), std::vector<double>(b.numel(), 2.0));
}

// ---- CUDA: the GPU's bfloat16 kernels against the CPU's ----------------------------

TEST(Bf16Cuda, ConversionMatchesTheCpuBitForBit) {
  REQUIRE_CUDA();
  Rng rng(9);
  std::vector<double> v;
  for (int i = 0; i < 4097; ++i) v.push_back(rng.normal() * std::ldexp(1.0, rng.randint(-30, 30)));
  v.push_back(1.00390625);  // a tie
  const Tensor x = Tensor::from_vector(v, {(int64_t)v.size()});
  const Tensor cpu = x.to(DType::BF16), gpu = x.to(Device::CUDA).to(DType::BF16).to(Device::CPU);
  ASSERT_EQ(gpu.dtype(), DType::BF16);
  EXPECT_EQ(std::memcmp(cpu.raw_data(), gpu.raw_data(), cpu.nbytes()), 0);
  EXPECT_EQ(gpu.to(Device::CUDA).to(DType::F32).to(Device::CPU).to_vector(), cpu.to_vector());
}

// A computation's output and every input's gradient, as CPU values: run(device,
// bf16) computes it on `device`, with autocast on or off.
using Bf16Run = std::function<std::vector<std::vector<double>>(Device, bool)>;

// Element by element a bfloat16 computation on the GPU and on the CPU need not
// agree: where their float32 sums differ in the last bits, one rounds an
// activation to the next bfloat16 (a 0.4% step), and a gradient that sums a
// few hundred such products moves by several percent in a single element (on
// an H100, 0.67 against 0.72 in one of 36). What must hold is that the GPU's
// bfloat16 is as accurate as the CPU's: each output and gradient is compared,
// as a whole, with the float32 result of the same inputs (relative L2 error),
// and the GPU's error may be at most twice the CPU's (plus 0.1%). A wrong
// kernel misses that by far: its error is of order 1.
void expect_gpu_bf16_as_accurate_as_the_cpu(const Bf16Run& run) {
  const auto exact = run(Device::CPU, false), cpu = run(Device::CPU, true), gpu = run(Device::CUDA, true);
  auto relative_error = [&](const std::vector<double>& got, const std::vector<double>& want) {
    double d = 0, n = 0;
    for (size_t i = 0; i < want.size(); ++i) d += (got[i] - want[i]) * (got[i] - want[i]), n += want[i] * want[i];
    return std::sqrt(d / n);
  };
  for (size_t k = 0; k < exact.size(); ++k) {
    const std::string what = k == 0 ? "the output" : "the gradient of input " + std::to_string(k - 1);
    ASSERT_EQ(cpu[k].size(), exact[k].size()) << what;
    ASSERT_EQ(gpu[k].size(), exact[k].size()) << what;
    const double e_cpu = relative_error(cpu[k], exact[k]), e_gpu = relative_error(gpu[k], exact[k]);
    std::printf("  %s: bfloat16 against float32, relative L2: CPU %.4f, GPU %.4f\n", what.c_str(), e_cpu, e_gpu);
    EXPECT_LT(e_cpu, 0.05) << what << ": the CPU's bfloat16 path itself";
    EXPECT_LE(e_gpu, 2 * e_cpu + 1e-3) << what;
  }
}

// The output of f(inputs) and the inputs' gradients for `upstream`, on
// `device`, with autocast on or off (the Bf16Run of f). Inputs that are
// undefined (an absent bias) stay so and give no gradient.
Bf16Run bf16_run(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                 const Tensor& upstream) {
  return [=](Device device, bool bf16) {
    std::vector<Tensor> in;
    for (const Tensor& t : inputs) in.push_back(t.defined() ? t.to(device).set_requires_grad() : Tensor());
    Tensor y;
    {
      AutocastGuard autocast(bf16);
      y = as_f32(f(in));
    }
    y.backward(upstream.to(device));
    std::vector<std::vector<double>> out = {y.to(Device::CPU).to_vector()};
    for (const Tensor& t : in)
      if (t.defined()) out.push_back(as_f32(t.grad()).to(Device::CPU).to_vector());
    return out;
  };
}

// conv (cuDNN, bias) -> batch norm (batch statistics) -> relu -> add -> 1x1
// conv, in bfloat16 on both devices, with every gradient.
TEST(Bf16Cuda, ConvBatchNormReluAddAsAccurateAsTheCpu) {
  REQUIRE_CUDA();
  Rng rng(21);
  const std::vector<Tensor> inputs = {randn({3, 5, 11, 9}, rng), scale(randn({6, 5, 3, 3}, rng), 0.3),
                                      randn({6}, rng),           Tensor::ones({6}),
                                      Tensor::zeros({6}),        scale(randn({6, 6, 1, 1}, rng), 0.3)};
  auto f = [](const std::vector<Tensor>& in) {
    const Device device = in[0].device();
    Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    Tensor mean = Tensor::zeros({6}, DType::F32, device), var = Tensor::ones({6}, DType::F32, device);
    BatchNormParams bn;
    bn.training = true;
    const Tensor h = relu(batch_norm2d(conv2d(in[0], in[1], in[2], p), in[3], in[4], mean, var, bn));
    return add(h, conv2d(h, in[5], Tensor(), Conv2dParams{}));
  };
  expect_gpu_bf16_as_accurate_as_the_cpu(bf16_run(f, inputs, rand_uniform({3, 6, 11, 9}, rng, -1.0, 1.0)));
}

// linear (cuBLAS on the tensor cores, the bias and the rounding in one pass)
// on odd shapes: more outputs than one block of the bias kernels covers, no
// bias, one row, and a head's shape (2048 features).
TEST(Bf16Cuda, LinearAsAccurateAsTheCpu) {
  REQUIRE_CUDA();
  Rng rng(25);
  auto f = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); };
  for (const auto& [N, I, O, with_bias] : {std::tuple{7, 37, 19, true}, std::tuple{33, 5, 1031, true},
                                           std::tuple{1, 13, 3, false}, std::tuple{20, 2048, 7, true}}) {
    SCOPED_TRACE("N " + std::to_string(N) + ", I " + std::to_string(I) + ", O " + std::to_string(O));
    const std::vector<Tensor> inputs = {randn({N, I}, rng), scale(randn({O, I}, rng), 1.0 / std::sqrt(I)),
                                        with_bias ? randn({O}, rng) : Tensor()};
    expect_gpu_bf16_as_accurate_as_the_cpu(bf16_run(f, inputs, rand_uniform({N, O}, rng, -1.0, 1.0)));
  }
  // No input features: y is the bias rounded, the same bits on both devices.
  const Tensor b = randn({5}, rng);
  AutocastGuard on;
  const Tensor cpu = linear(Tensor::zeros({3, 0}), Tensor::zeros({5, 0}), b);
  const Tensor gpu = linear(Tensor::zeros({3, 0}, DType::F32, Device::CUDA), Tensor::zeros({5, 0}, DType::F32, Device::CUDA),
                            b.to(Device::CUDA));
  ASSERT_EQ(gpu.dtype(), DType::BF16);
  EXPECT_EQ(gpu.to(Device::CPU).to_vector(), cpu.to_vector());
}

// max pool -> nearest upsampling -> concat -> slice -> global average pool in
// bfloat16: the GPU's kernels against the CPU's float32 path. Copies are
// exact and each sum is rounded once, so the two agree up to the order of
// the float32 sums.
TEST(Bf16Cuda, PoolUpsampleConcatSliceMatchTheCpu) {
  REQUIRE_CUDA();
  Rng rng(23);
  auto f = [](const std::vector<Tensor>& in) {
    const Tensor x = cast(in[0], DType::BF16);                     // (2, 3, 9, 7)
    const Tensor m = max_pool2d(x, Pool2dParams::make(3, 2, 1));   // (2, 3, 5, 4)
    const Tensor u = upsample_nearest(m, 9, 7);                    // (2, 3, 9, 7)
    const Tensor s = slice(concat({u, x}, 1), 1, 1, 5);            // (2, 4, 9, 7)
    EXPECT_EQ(s.dtype(), DType::BF16);
    return concat({as_f32(reshape(s, {2, -1})), as_f32(global_avg_pool2d(s))}, 1);
  };
  test::expect_cpu_cuda_parity(f, {randn({2, 3, 9, 7}, rng)}, 1e-2, 1e-2);
}

}  // namespace
}  // namespace skinmtl
