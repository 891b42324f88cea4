// Every backward ACCUMULATES into the gradient buffers it is handed and never
// overwrites them (framework/autograd.h, "THE RULE"), except where it may:
// a buffer that holds nothing yet, asked for with GradBuffers::write().
//
// The gradient checks and the CPU-vs-CUDA parity tests start from zeroed leaf
// gradients, where "dx = ..." and "dx += ..." give the same numbers, so they
// cannot tell the two apart (a shared input catches it only for the ops a
// test happens to share). Here each op's backward runs twice over the same
// graph. Leaf gradients keep accumulating across backward() calls, so the
// second run is handed buffers that already hold the first run's result, and
// every gradient must come out doubled. An overwriting kernel leaves it
// undoubled (or, for a partial overwrite, some elements undoubled).
//
// The second test feeds each op intermediates instead of leaves, and uses
// every intermediate twice: y = f(u) + f(u), u = 1 * x. Backward reaches one
// f first, which is handed u's gradient buffer new and unzeroed (poisoned
// with NaN in the tests, tests/main.cpp): an op that overwrites it must write
// every element, or NaN comes through. The second f is handed the same buffer,
// now holding the first's gradient, and must add to it: x's gradient comes out
// twice the one of the first test, or the op overwrote where it had to add.
//
// The same cases run on the CPU (here and now) and on CUDA (skipped without a
// GPU), there under both convolution backends (cuDNN's beta = 1 or 0;
// im2col's col2im and GEMM beta).
#include <algorithm>
#include <cmath>
#include <string>

#include "framework/precision.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

struct Case {
  std::string name;
  test::GradFn f;
  std::vector<Tensor> inputs;  // float32, CPU
  std::vector<int> no_grad;    // inputs that get no gradient
};

Tensor labels_of(const std::vector<double>& v) {
  return Tensor::from_vector(v, {(int64_t)v.size()});
}

std::vector<Case> cases() {
  Rng rng(2024);
  std::vector<Case> c;
  auto one = [](Tensor (*op)(const Tensor&)) {
    return [op](const std::vector<Tensor>& v) { return op(v[0]); };
  };
  c.push_back({"relu", one(relu), {randn({3, 5, 7}, rng)}, {}});
  c.push_back({"add", [](const std::vector<Tensor>& v) { return add(v[0], v[1]); },
               {randn({3, 5, 7}, rng), randn({3, 5, 7}, rng)}, {}});
  c.push_back({"add(a, a)", [](const std::vector<Tensor>& v) { return add(v[0], v[0]); },
               {randn({4, 3}, rng)}, {}});
  c.push_back({"scale", [](const std::vector<Tensor>& v) { return scale(v[0], -1.5); },
               {randn({3, 5, 7}, rng)}, {}});
  c.push_back({"reshape", [](const std::vector<Tensor>& v) { return reshape(v[0], {5, -1}); },
               {randn({3, 5, 7}, rng)}, {}});
  c.push_back({"concat", [](const std::vector<Tensor>& v) { return concat({v[0], v[1]}, 1); },
               {randn({3, 2, 5}, rng), randn({3, 4, 5}, rng)}, {}});
  c.push_back({"slice", [](const std::vector<Tensor>& v) { return slice(v[0], 1, 2, 5); },
               {randn({3, 7, 5}, rng)}, {}});
  c.push_back({"take_rows", [](const std::vector<Tensor>& v) { return take_rows(v[0], {4, 0, 2}); },
               {randn({6, 3, 2}, rng)}, {}});
  c.push_back({"sum", one(sum), {randn({3, 5, 7}, rng)}, {}});
  c.push_back({"mean", one(mean), {randn({3, 5, 7}, rng)}, {}});
  c.push_back({"sigmoid", one(sigmoid), {randn({3, 5, 7}, rng, 3.0)}, {}});
  c.push_back({"softmax", one(softmax), {randn({7, 11}, rng, 3.0)}, {}});
  c.push_back({"sigmoid_cross_entropy",
               [](const std::vector<Tensor>& v) { return sigmoid_cross_entropy(v[0], v[1]); },
               {randn({7, 5}, rng, 3.0), rand_uniform({7, 5}, rng, 0.0, 1.0)},
               {1}});
  c.push_back({"softmax_cross_entropy",
               [](const std::vector<Tensor>& v) { return softmax_cross_entropy(v[0], v[1]); },
               {randn({6, 5}, rng, 3.0), labels_of({2, -1, 0, 4, 4, 1})},
               {1}});
  c.push_back({"linear", [](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); },
               {randn({7, 13}, rng), randn({5, 13}, rng), randn({5}, rng)}, {}});
  // In bfloat16, x's and w's gradients reach them through their casts' buffers
  // (on the GPU, cuBLAS's beta = 1 into bfloat16).
  c.push_back({"linear, bfloat16 (autocast)",
               [](const std::vector<Tensor>& v) {
                 AutocastGuard on;
                 return as_f32(linear(v[0], v[1], v[2]));
               },
               {randn({7, 13}, rng), randn({5, 13}, rng), randn({5}, rng)}, {}});
  // x, w, b, gamma, beta, mean, var: a convolution with a frozen batch norm
  // folded in on the tape (the statistics get no gradient).
  c.push_back({"conv2d of fold_batch_norm",
               [](const std::vector<Tensor>& v) {
                 const FoldedBatchNorm f = fold_batch_norm(v[1], v[2], v[3], v[4], v[5], v[6], 1e-3);
                 return conv2d(v[0], f.w, f.b, Conv2dParams::make(1, 1));
               },
               {randn({2, 3, 7, 6}, rng), randn({4, 3, 3, 3}, rng), randn({4}, rng), rand_uniform({4}, rng, 0.5, 1.5),
                randn({4}, rng), randn({4}, rng), rand_uniform({4}, rng, 0.5, 2.0)},
               {5, 6}});
  c.push_back({"conv2d 3x3 s2 p1",
               [](const std::vector<Tensor>& v) {
                 return conv2d(v[0], v[1], v[2], Conv2dParams::make(2, 1));
               },
               {randn({3, 5, 11, 9}, rng), randn({7, 5, 3, 3}, rng), randn({7}, rng)}, {}});
  // 12 x 12 = 144 output pixels per image: one GEMM per image on the CPU
  // (kernels/conv2d.h), so a new dw is written by the first and added to by
  // the second.
  c.push_back({"conv2d 3x3 p1, a GEMM per image",
               [](const std::vector<Tensor>& v) {
                 return conv2d(v[0], v[1], v[2], Conv2dParams::make(1, 1));
               },
               {randn({2, 3, 12, 12}, rng), randn({4, 3, 3, 3}, rng), randn({4}, rng)}, {}});
  c.push_back({"conv2d 3x3 dilation 2",
               [](const std::vector<Tensor>& v) {
                 return conv2d(v[0], v[1], Tensor(), Conv2dParams::make(1, 2, 2));
               },
               {randn({2, 3, 9, 8}, rng), randn({4, 3, 3, 3}, rng)}, {}});
  c.push_back({"conv2d 1x1 (shortcut)",
               [](const std::vector<Tensor>& v) {
                 return conv2d(v[0], v[1], v[2], Conv2dParams{});
               },
               {randn({3, 6, 5, 7}, rng), randn({4, 6, 1, 1}, rng), randn({4}, rng)}, {}});
  // The fused unit end: the residual's gradient and the convolution's dy
  // come out of one pass (kernels/fold_batch_norm.h, bias_act_backward).
  for (bool relu : {true, false}) {
    c.push_back({relu ? "conv2d_bias_act, residual, ReLU" : "conv2d_bias_act, residual, no ReLU",
                 [relu](const std::vector<Tensor>& v) {
                   return conv2d_bias_act(v[0], v[1], v[2], Conv2dParams::make(2, 1), relu, v[3]);
                 },
                 {randn({3, 5, 11, 9}, rng), randn({7, 5, 3, 3}, rng), randn({7}, rng), randn({3, 7, 6, 5}, rng)},
                 {}});
  }
  c.push_back({"conv2d_bias_act of fold_batch_norm, ReLU",
               [](const std::vector<Tensor>& v) {
                 const FoldedBatchNorm f = fold_batch_norm(v[1], v[2], v[3], v[4], v[5], v[6], 1e-3);
                 return conv2d_bias_act(v[0], f.w, f.b, Conv2dParams{}, /*relu=*/true);
               },
               {randn({2, 3, 7, 6}, rng), randn({4, 3, 1, 1}, rng), randn({4}, rng), rand_uniform({4}, rng, 0.5, 1.5),
                randn({4}, rng), randn({4}, rng), rand_uniform({4}, rng, 0.5, 2.0)},
               {5, 6}});
  for (bool training : {true, false}) {
    BatchNormParams p;
    p.training = training;
    c.push_back({training ? "batch_norm2d (training)" : "batch_norm2d (frozen)",
                 [p](const std::vector<Tensor>& v) {
                   Tensor rm = v[3], rv = v[4];
                   return batch_norm2d(v[0], v[1], v[2], rm, rv, p);
                 },
                 {randn({3, 4, 5, 3}, rng, 2.0), rand_uniform({4}, rng, 0.5, 1.5),
                  randn({4}, rng), randn({4}, rng), rand_uniform({4}, rng, 0.5, 2.0)},
                 {3, 4}});
  }
  // The batch norm's unit end: the shortcut's gradient and the batch norm's
  // dy come out of one bias_act_backward pass.
  for (bool training : {true, false}) {
    BatchNormParams p;
    p.training = training;
    c.push_back({training ? "batch_norm2d_act (training), residual, ReLU" : "batch_norm2d_act (frozen), residual, ReLU",
                 [p](const std::vector<Tensor>& v) {
                   Tensor rm = v[3], rv = v[4];
                   return batch_norm2d_act(v[0], v[1], v[2], rm, rv, p, /*relu=*/true, v[5]);
                 },
                 {randn({3, 4, 5, 3}, rng, 2.0), rand_uniform({4}, rng, 0.5, 1.5), randn({4}, rng), randn({4}, rng),
                  rand_uniform({4}, rng, 0.5, 2.0), randn({3, 4, 5, 3}, rng)},
                 {3, 4}});
  }
  c.push_back({"batch_norm2d_act (training), ReLU, no residual",  // its backward runs in place in dx
               [](const std::vector<Tensor>& v) {
                 Tensor rm = v[3], rv = v[4];
                 return batch_norm2d_act(v[0], v[1], v[2], rm, rv, BatchNormParams{}, /*relu=*/true);
               },
               {randn({2, 3, 4, 5}, rng), rand_uniform({3}, rng, 0.5, 1.5), randn({3}, rng), randn({3}, rng),
                rand_uniform({3}, rng, 0.5, 2.0)},
               {3, 4}});
  c.push_back({"batch_norm2d_act (training), residual, no ReLU",
               [](const std::vector<Tensor>& v) {
                 Tensor rm = v[3], rv = v[4];
                 return batch_norm2d_act(v[0], v[1], v[2], rm, rv, BatchNormParams{}, /*relu=*/false, v[5]);
               },
               {randn({2, 3, 4, 5}, rng), rand_uniform({3}, rng, 0.5, 1.5), randn({3}, rng), randn({3}, rng),
                rand_uniform({3}, rng, 0.5, 2.0), randn({2, 3, 4, 5}, rng)},
               {3, 4}});
  c.push_back({"max_pool2d",
               [](const std::vector<Tensor>& v) {
                 return max_pool2d(v[0], Pool2dParams::make(3, 2, 1));
               },
               {randn({3, 5, 11, 7}, rng)}, {}});
  c.push_back({"avg_pool2d",
               [](const std::vector<Tensor>& v) {
                 return avg_pool2d(v[0], Pool2dParams::make(3, 2, 1));
               },
               {randn({3, 5, 11, 7}, rng)}, {}});
  c.push_back({"global_avg_pool2d", one(global_avg_pool2d), {randn({3, 5, 4, 7}, rng)}, {}});
  c.push_back({"upsample_nearest 2x",
               [](const std::vector<Tensor>& v) { return upsample_nearest(v[0], 8, 14); },
               {randn({3, 5, 4, 7}, rng)}, {}});
  c.push_back({"upsample_nearest 3x5 -> 7x11",
               [](const std::vector<Tensor>& v) { return upsample_nearest(v[0], 7, 11); },
               {randn({2, 3, 3, 5}, rng)}, {}});
  c.push_back({"permute", [](const std::vector<Tensor>& v) { return permute(v[0], {0, 2, 3, 1}); },
               {randn({3, 8, 5, 7}, rng)}, {}});
  c.push_back({"mul", [](const std::vector<Tensor>& v) { return mul(v[0], v[1]); },
               {randn({3, 5, 7}, rng), randn({3, 5, 7}, rng)}, {}});
  c.push_back({"mul(a, a)", [](const std::vector<Tensor>& v) { return mul(v[0], v[0]); },
               {randn({4, 3}, rng)}, {}});
  c.push_back({"smooth_l1_loss",
               [](const std::vector<Tensor>& v) { return smooth_l1_loss(v[0], v[1], v[2], 0.5); },
               {randn({7, 4}, rng, 2.0), randn({7, 4}, rng), rand_uniform({7, 4}, rng, 0.5, 1.5)},
               {1, 2}});
  c.push_back({"sigmoid_focal_loss",
               [](const std::vector<Tensor>& v) { return sigmoid_focal_loss(v[0], v[1], v[2]); },
               {randn({7, 5}, rng, 3.0), rand_uniform({7, 5}, rng, 0.0, 1.0),
                rand_uniform({7, 5}, rng, 0.5, 1.5)},
               {1, 2}});
  c.push_back({"softmax_focal_loss",
               [](const std::vector<Tensor>& v) { return softmax_focal_loss(v[0], v[1], 0.5, 1.5); },
               {randn({6, 3}, rng, 3.0), labels_of({2, 0, 0, 1, 2, 1})},
               {1}});
  c.push_back({"soft_jaccard_distance",
               [](const std::vector<Tensor>& v) { return soft_jaccard_distance(v[0], v[1], 1.0); },
               {rand_uniform({3, 2, 5, 4}, rng, 0.0, 1.0), rand_uniform({3, 2, 5, 4}, rng, 0.0, 1.0)},
               {1}});
  return c;
}

// The largest |value| of a CPU tensor.
double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::fmax(m, std::fabs(v));
  return m;
}

// The case's inputs on `device`, those that get a gradient marked so.
std::vector<Tensor> inputs_on(const Case& c, Device device) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor t = c.inputs[i].clone().to(device);
    const bool grad = std::find(c.no_grad.begin(), c.no_grad.end(), (int)i) == c.no_grad.end();
    if (grad) t.set_requires_grad(true);
    in.push_back(t);
  }
  return in;
}

// The upstream gradient the tests send back through an output like y.
Tensor seed_like(const Tensor& y) {
  Rng rng(7);
  return rand_uniform(y.shape(), rng, -1.0, 1.0, y.dtype()).to(y.device());
}

// expected[i] * factor, against in[i]'s gradient.
void expect_gradients(const std::vector<Tensor>& expected, double factor, const std::vector<Tensor>& in,
                      const char* what) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (!expected[i].defined()) continue;
    ASSERT_TRUE(in[i].grad().defined()) << "input " << i << " received no gradient";
    std::vector<double> want = expected[i].to_vector();
    for (double& v : want) v *= factor;
    // Not bit-exact: a GEMM with beta = 1 may add its partial products into C
    // block by block, so 2g is reached with different roundings.
    EXPECT_TENSORS_CLOSE(Tensor::from_vector(want, expected[i].shape(), expected[i].dtype()),
                         in[i].grad().to(Device::CPU), 1e-5, 1e-5)
        << "input " << i << ": " << what;
  }
}

// The gradients of the case's inputs after one backward from leaves (CPU
// copies; undefined for inputs without one). Checks that the graph is
// reused correctly by a second backward: every gradient doubles.
std::vector<Tensor> expect_backward_accumulates(const Case& c, Device device) {
  std::vector<Tensor> in = inputs_on(c, device);
  Tensor y = c.f(in);
  EXPECT_EQ(y.device(), device);
  const Tensor r = seed_like(y);

  y.backward(r);
  std::vector<Tensor> once(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].requires_grad()) continue;
    EXPECT_TRUE(in[i].grad().defined()) << "input " << i << " received no gradient";
    if (!in[i].grad().defined()) return {};
    once[i] = in[i].grad().to(Device::CPU).clone();  // a copy: the buffer keeps accumulating
    // A zero gradient would double to zero: the test must be able to fail.
    EXPECT_GT(max_abs(once[i]), 1e-3) << "input " << i << ": the first gradient is ~0";
  }

  y.backward(r);  // the same graph again: the leaf gradients now hold the first run
  expect_gradients(once, 2.0, in,
                   "the second backward did not add to the gradient (a kernel overwrote its gradient buffer?)");
  return once;
}

// y = f(u) + f(u) with u = 1 * x for every input x that gets a gradient (see
// the top of the file): x's gradient must be twice `once`.
void expect_new_buffers_written_then_added(const Case& c, Device device, const std::vector<Tensor>& once) {
  std::vector<Tensor> in = inputs_on(c, device), u = in;
  for (Tensor& t : u)
    if (t.requires_grad()) t = scale(t, 1.0);  // an intermediate: its gradient buffer is new in backward
  const Tensor y = add(c.f(u), c.f(u));
  y.backward(seed_like(y));
  expect_gradients(once, 2.0, in,
                   "the first of two uses of an intermediate left elements of its new gradient buffer "
                   "unwritten (NaN), or the second overwrote the first's gradient");
}

void expect_both(const Case& c, Device device) {
  const std::vector<Tensor> once = expect_backward_accumulates(c, device);
  if (once.empty()) return;
  expect_new_buffers_written_then_added(c, device, once);
}

TEST(BackwardAccumulates, EveryOpOnCpu) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    expect_both(c, Device::CPU);
  }
}

// Restores the convolution backend when the test ends, however it ends.
class BackendGuard {
 public:
  BackendGuard() : prev_(conv_backend()) {}
  ~BackendGuard() { set_conv_backend(prev_); }

 private:
  ConvBackend prev_;
};

TEST(BackwardAccumulatesCuda, EveryOpEveryConvBackend) {
  REQUIRE_CUDA();
  BackendGuard guard;
  for (ConvBackend b : {ConvBackend::CuDNN, ConvBackend::CuDNNGraph, ConvBackend::Im2col}) {
    set_conv_backend(b);
    SCOPED_TRACE(b == ConvBackend::CuDNN ? "cuDNN" : b == ConvBackend::CuDNNGraph ? "cuDNN graph API" : "im2col");
    for (const Case& c : cases()) {
      SCOPED_TRACE(c.name);
      expect_both(c, Device::CUDA);
    }
  }
}

}  // namespace
}  // namespace skinmtl
