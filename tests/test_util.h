// tests/test_util.h: what the op tests share.
//
//  - REQUIRE_CUDA(): at the top of a CUDA test; without a GPU the test is
//    reported as skipped, by name, in GoogleTest's summary.
//  - expect_close(): element-wise comparison of two tensors on any devices,
//    failing on NaN/Inf (outputs start poisoned with NaN, see tests/main.cpp).
//  - gradcheck(): the finite-difference gradient checker (tests/gradcheck.cpp).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "framework/ops.h"
#include "framework/random.h"
#include "framework/tensor.h"
#include "kernels/conv2d.h"

// Skips a CUDA test where there is no GPU, by name in the summary; with
// SKINMTL_REQUIRE_CUDA=1 (a machine meant to have one) it fails instead, so a
// broken driver can never pass as "0 failed, N skipped".
#define REQUIRE_CUDA()                                                                            \
  do {                                                                                            \
    if (!::skinmtl::cuda_available()) {                                                           \
      if (::skinmtl::cuda_required())                                                             \
        FAIL() << "SKINMTL_REQUIRE_CUDA is set but " << ::skinmtl::cuda_unavailable_reason();     \
      GTEST_SKIP() << "no CUDA device on this machine (" << ::skinmtl::cuda_unavailable_reason() \
                   << ")";                                                                        \
    }                                                                                             \
  } while (0)

namespace skinmtl::test {

// |actual - expected| <= atol + rtol * |expected| everywhere, both finite.
// Reports the worst element and its index.
::testing::AssertionResult tensors_close(const Tensor& expected, const Tensor& actual,
                                         double rtol, double atol);
#define EXPECT_TENSORS_CLOSE(expected, actual, rtol, atol) \
  EXPECT_TRUE(::skinmtl::test::tensors_close((expected), (actual), (rtol), (atol)))

struct GradCheckOptions {
  double eps = 1e-6;            // central-difference step
  double atol = 1e-6;           // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 1e-5;
  int max_checks_per_input = 400;  // elements sampled per input (all when fewer)
  double max_kink_fraction = 0.1;  // more skipped kinks than this fails the check
  uint64_t seed = 1234;
};

struct GradCheckResult {
  bool ok = true;
  int checked = 0;          // elements compared
  int kinks_skipped = 0;    // elements where the function is not differentiable
  double max_abs_err = 0;
  std::string report;       // the first few mismatches, input by input
};

using GradFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks the analytic gradient of f at `inputs` against central finite
// differences. `inputs` must be float64 CPU tensors; an undefined entry or one
// listed in `no_grad` is passed through without being checked.
//
// Method (as in Caffe's GradientChecker and PyTorch's gradcheck): project the
// output onto a fixed random direction r, L(x) = sum(r * f(x)); the analytic
// gradient is backward(f(x), r); each sampled element x_i is nudged by +-eps
// and (L(x + eps e_i) - L(x - eps e_i)) / 2 eps compared with it.
// Kinks (ReLU at 0, ties in max pool) are detected where the one-sided
// differences disagree, skipped and counted; too many of them fail the check,
// since then the test data, not the op, is at fault.
GradCheckResult gradcheck(const GradFn& f, const std::vector<Tensor>& inputs,
                          const GradCheckOptions& opt = {}, const std::vector<int>& no_grad = {});

#define EXPECT_GRADCHECK(...)                                       \
  do {                                                              \
    auto gc_ = ::skinmtl::test::gradcheck(__VA_ARGS__);             \
    EXPECT_TRUE(gc_.ok) << gc_.report;                              \
    EXPECT_GT(gc_.checked, 0) << "gradcheck compared no element";   \
  } while (0)

// A float64 CPU tensor of uniform values in [lo, hi).
Tensor uniform64(const Shape& shape, Rng& rng, double lo = -1.0, double hi = 1.0);
// A float64 CPU tensor whose values are a random permutation of
// lo, lo + step, lo + 2 step, ...: distinct, well separated values, so max
// pooling has no ties and ReLU no input near zero when lo/step avoid it.
Tensor distinct64(const Shape& shape, Rng& rng, double lo, double step);

// The textbook definition of conv2d (kernels/conv2d.h), one output element
// at a time, in double: the reference its fast paths (im2col, Winograd) must
// reproduce. A float64 CPU tensor (N, K, P, Q).
Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p);

// The sizes conv2d computes for an input of shape x, weights of shape w and
// p (kernels/conv2d.h), for tests that call kernels or cuDNN's descriptors
// directly.
Conv2dShape conv2d_shape_for(const Shape& x, const Shape& w, const Conv2dParams& p);

// Same shape and the same values, bit for bit (compared on the host).
bool bitwise_equal(const Tensor& a, const Tensor& b);

// ||a - b|| / ||b|| (L2 norms, any devices and dtypes), the bfloat16 tests'
// measure. A gradient past a ReLU can differ by a whole element where
// rounding moves an output across 0, which a largest-element measure would
// report as a large gap; the norm weighs it by how rare it is.
double l2_relative_gap(const Tensor& a, const Tensor& b);

// A float32 CPU tensor of +-10 at random plus N(0, 0.5) noise: a residual
// that keeps a unit's pre-ReLU sum (of a standard deviation of a few units)
// far from 0, so that rounding to bfloat16 cannot move an output across the
// ReLU's kink. One such crossing stops or passes one element's whole gradient
// (and, through a convolution, changes dozens of dx elements): a legitimate
// difference that a rounding-sized tolerance cannot hold.
Tensor far_from_zero(const Shape& shape, Rng& rng);

// Restores set_conv_epilogue_fusion's setting when a test ends, however it ends.
struct EpilogueFusionGuard {
  bool prev = conv_epilogue_fusion();
  ~EpilogueFusionGuard() { set_conv_epilogue_fusion(prev); }
};

// A fused unit end whose shortcut is its own input: y_of(h, fused) gives
// op(h, ..., residual = h), fused or as its separate ops. With h = x (a leaf)
// and h = 1.5 x (an intermediate), and L = sum(y * seed), both of h's uses put
// their gradients into one buffer, which the backward must add to, not
// overwrite: x's gradient must be the same either way (within 1e-12).
void expect_input_as_its_residual_adds(const std::function<Tensor(const Tensor& h, bool fused)>& y_of,
                                       const Tensor& x0, const Tensor& seed);

// Runs the OpenMP loops of its scope on `threads` threads and restores the
// count when the scope ends: for tests that a kernel's result does not depend
// on how many threads split it.
class ThreadCountGuard {
 public:
  explicit ThreadCountGuard(int threads);
  ~ThreadCountGuard();
  ThreadCountGuard(const ThreadCountGuard&) = delete;
  ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;

 private:
  int prev_;
};

// The same op run on the CPU and on CUDA from the same float32 inputs: forward
// outputs and the gradients of every input that requires one must agree.
// `inputs` are CPU float32 tensors; the function copies them to the GPU.
void expect_cpu_cuda_parity(const GradFn& f, const std::vector<Tensor>& inputs, double rtol,
                            double atol, const std::vector<int>& no_grad = {});

}  // namespace skinmtl::test
