// Whole networks, forward + backward + one SGD step, the GPU against the CPU.
//
// The op tests check every kernel alone (parity on odd shapes, gradient
// checks, tests/framework/test_backward_accumulates.cpp), and tools/gpu/run.sh
// compares the first training loss of each model on the two devices, which
// depends on the forward pass alone. Here the gradient of every parameter of
// Liao & Luo's and Yang et al.'s networks (ResNet-50 trunks, 25-28 million
// parameters) is compared after one backward on each device, and every
// parameter's SGD update: a layer whose backward goes wrong on the GPU only in
// this company (a shape no op test has, an intermediate's gradient buffer
// written rather than added to in the wrong place) shows here, by name.
//
// Every batch norm is frozen, as the papers fine-tune the trunk, with the
// initial statistics (mean 0, variance 1). A randomly initialised ResNet-50
// is chaotic at these tiny sizes with batch statistics, and as much with
// statistics taken from one batch of two images (channels of tiny variance):
// there, one float32 rounding step of the input (1.2e-7) moved every trunk
// gradient by 4%. With the initial statistics, that step and another
// summation order of the CPU's GEMMs together move them by 1.5e-6, so a
// tolerance of 1e-3 leaves room for the GPU's sums and none for a wrong
// gradient.
//
// The CPU test checks what the GPU tests rely on: the same step twice on the
// CPU gives the same gradients bit for bit.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest-spi.h>

#include "framework/optimizer.h"
#include "framework/precision.h"
#include "nets/mtl_classifier.h"
#include "nets/segcls.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// Freezes every batch norm of `net` (running statistics, gamma and beta trained).
void freeze_bn(Module& net) {
  net.apply([](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) bn->frozen = true;
  });
}

// Copies every parameter and buffer of `from` into `to` (same architecture, both on the CPU).
void copy_state(Module& from, Module& to) {
  auto fp = from.named_parameters(), tp = to.named_parameters();
  ASSERT_EQ(fp.size(), tp.size());
  for (size_t i = 0; i < fp.size(); ++i) tp[i].second->value.copy_from(fp[i].second->value);
  auto fb = from.named_buffers(), tb = to.named_buffers();
  ASSERT_EQ(fb.size(), tb.size());
  for (size_t i = 0; i < fb.size(); ++i) tb[i].second->copy_from(*fb[i].second);
}

// What one step on one device left: the loss, each parameter's name, its
// gradient and the SGD step's change of it (CPU copies).
struct StepResult {
  double loss = 0;
  std::vector<std::string> names;
  std::vector<Tensor> grads, updates;
};

// One step of `net` on its device: zero_grad, loss_of(net), backward, SGD.
template <typename Net, typename LossOf>
StepResult one_step(Net& net, LossOf loss_of) {
  SGD sgd(net.parameters(), SGDOptions{1e-2, 0.9, 1e-4});
  sgd.zero_grad();
  const Tensor loss = loss_of(net);
  loss.backward();
  StepResult r;
  r.loss = loss.to(Device::CPU).item();
  for (auto& [name, p] : net.named_parameters()) {
    r.names.push_back(name);
    r.grads.push_back(p->value.grad().defined() ? p->value.grad().to(Device::CPU).to(DType::F32) : Tensor());
  }
  std::vector<std::vector<double>> before;
  for (Parameter* p : net.parameters()) before.push_back(p->value.to(Device::CPU).to_vector());
  sgd.step();
  size_t i = 0;
  for (Parameter* p : net.parameters()) {
    std::vector<double> change = p->value.to(Device::CPU).to_vector();
    for (size_t j = 0; j < change.size(); ++j) change[j] -= before[i][j];
    r.updates.push_back(Tensor::from_vector(change, p->value.shape(), DType::F64));
    ++i;
  }
  return r;
}

double norm_of(const Tensor& t) {
  double s = 0;
  for (double v : t.to_vector()) s += v * v;
  return std::sqrt(s);
}

double norm_of_difference(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return std::sqrt(s);
}

// Each tensor of `got` against `want`'s (parameter gradients or updates):
// |got - want| <= tol * max(|want|, 1e-4 * the largest |want| of the
// network) in the L2 norm (the floor keeps a gradient that cancels to almost
// nothing from demanding more digits than float has). Prints the farthest.
void expect_close_by_norm(const std::vector<std::string>& names, const std::vector<Tensor>& want,
                          const std::vector<Tensor>& got, double tol, const std::string& what) {
  double largest = 0;
  for (const Tensor& g : want)
    if (g.defined()) largest = std::max(largest, norm_of(g));
  ASSERT_GT(largest, 0) << what << ": all zero";
  double worst = 0;
  std::string worst_name;
  int compared = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(want[i].defined(), got[i].defined()) << what << ": " << names[i];
    if (!want[i].defined()) continue;
    ++compared;
    const double scale = std::max(norm_of(want[i]), 1e-4 * largest);
    const double err = norm_of_difference(got[i], want[i]) / scale;
    EXPECT_LE(err, tol) << what << " of " << names[i] << ": " << err << " (relative, L2) away from the CPU's";
    if (err > worst) worst = err, worst_name = names[i];
  }
  std::printf("  %s: %d tensors, the farthest from the CPU's %.2e (%s)\n", what.c_str(), compared, worst,
              worst_name.c_str());
}

// The loss, every parameter's gradient and every parameter's SGD update.
void expect_steps_match(const StepResult& want, const StepResult& got, double tol, const std::string& what) {
  EXPECT_NEAR(got.loss, want.loss, std::min(tol, 2e-2) * std::fabs(want.loss)) << what << ": loss";
  std::printf("  %s: loss %.7g, the CPU's %.7g\n", what.c_str(), got.loss, want.loss);
  ASSERT_EQ(want.names, got.names);
  expect_close_by_norm(want.names, want.grads, got.grads, tol, what + ", gradient");
  expect_close_by_norm(want.names, want.updates, got.updates, tol, what + ", SGD update");
}

// bfloat16: both devices round the same values, up to the order of the sums,
// but an output on the other side of a rounding boundary moves by 2^-8 and
// such flips spread through 50 layers. Moving every input by 4e-3 (about one
// bfloat16 step) moved the CPU's gradients by up to 37%, far more than the
// GPU's sums can; a gradient that is lost, doubled or of the wrong sign is
// off by 100% or more.
constexpr double kBf16Tolerance = 0.5;
// float32: see the top of the file.
constexpr double kFp32Tolerance = 1e-3;

// ---- Liao & Luo: ResNet-50 + lesion (multi-label) and location heads --------------------------

struct MtlCase {
  static constexpr int kLesions = 7, kSites = 5;
  Tensor x, lesions, sites;  // CPU
  MtlCase() {
    Rng rng(11);
    x = randn({2, 3, 64, 64}, rng);
    lesions = Tensor::from_vector(std::vector<double>{1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0}, {2, kLesions});
    sites = Tensor::from_vector(std::vector<double>{3, 1}, {2});
  }
  static std::unique_ptr<MtlClassifier> make_net() {
    MtlConfig c;
    c.lesion_classes = kLesions;
    c.location_classes = kSites;
    c.trunk = keras_resnet50(0);
    Rng rng(5);
    return std::make_unique<MtlClassifier>(c, rng);
  }
  Tensor loss(MtlClassifier& net) const {
    const Device d = net.parameters()[0]->value.device();
    const MtlClassifier::Output out = net.forward(x.to(d));
    return net.loss(out, lesions.to(d), sites.to(d)).total;
  }
};

// Two identical networks of a case in training mode, batch norm frozen: the
// first on the CPU, the second on `device`.
template <typename Case>
auto twin_nets(Device device) {
  auto a = Case::make_net(), b = Case::make_net();
  copy_state(*a, *b);
  for (Module* net : {(Module*)a.get(), (Module*)b.get()}) {
    net->train();
    freeze_bn(*net);
  }
  b->to(device);
  return std::make_pair(std::move(a), std::move(b));
}

// One step of a case's network on the GPU against the same step on the CPU,
// in bfloat16 (autocast on both) or float32.
template <typename Case>
void expect_gpu_step_matches_cpu(bool bf16, const std::string& what) {
  const Case c;
  auto [cpu, gpu] = twin_nets<Case>(Device::CUDA);
  AutocastGuard autocast(bf16);
  auto loss = [&](auto& net) { return c.loss(net); };
  expect_steps_match(one_step(*cpu, loss), one_step(*gpu, loss), bf16 ? kBf16Tolerance : kFp32Tolerance, what);
}

TEST(NetworkGradients, MtlStepIsBitIdenticalTwiceOnCpu) {
  const MtlCase c;
  auto [a, b] = twin_nets<MtlCase>(Device::CPU);
  auto loss = [&](MtlClassifier& net) { return c.loss(net); };
  const StepResult ra = one_step(*a, loss), rb = one_step(*b, loss);
  ASSERT_EQ(ra.names, rb.names);
  EXPECT_EQ(ra.loss, rb.loss);
  for (size_t i = 0; i < ra.names.size(); ++i) {
    ASSERT_TRUE(ra.grads[i].defined()) << ra.names[i];
    EXPECT_EQ(ra.grads[i].to_vector(), rb.grads[i].to_vector()) << ra.names[i];
  }
  // The harness itself: a gradient nudged by one part in a thousand fails it.
  StepResult nudged = rb;
  size_t k = 0;  // the parameter with the largest gradient
  for (size_t i = 1; i < nudged.grads.size(); ++i)
    if (norm_of(nudged.grads[i]) > norm_of(nudged.grads[k])) k = i;
  std::vector<double> g = nudged.grads[k].to_vector();
  for (double& v : g) v *= 1.001;
  nudged.grads[k] = Tensor::from_vector(g, nudged.grads[k].shape());
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    expect_steps_match(ra, nudged, 1e-4, "nudged");
  }
  EXPECT_EQ(failures.size(), 1) << "a gradient 1e-3 off should fail a 1e-4 comparison, and only that one";
}

TEST(NetworkGradientsCuda, MtlStepMatchesTheCpu) {
  REQUIRE_CUDA();
  expect_gpu_step_matches_cpu<MtlCase>(false, "Liao & Luo, fp32");
}

TEST(NetworkGradientsCuda, MtlBf16StepMatchesTheCpuBf16) {
  REQUIRE_CUDA();
  expect_gpu_step_matches_cpu<MtlCase>(true, "Liao & Luo, bf16");
}

// ---- Yang et al.: ResNet-50 encoder, U-Net decoder, two classifiers ---------------------------

struct SegClsCase {
  Tensor x, masks, melanoma, sk;  // CPU
  SegClsCase() {
    Rng rng(12);
    x = randn({2, 3, 64, 96}, rng);
    std::vector<double> m(2 * 64 * 96);
    for (size_t i = 0; i < m.size(); ++i) m[i] = (i / 96) % 64 > 20 && (i % 96) > 30 ? 1 : 0;
    masks = Tensor::from_vector(m, {2, 1, 64, 96});
    melanoma = Tensor::from_vector(std::vector<double>{1, 0}, {2});
    sk = Tensor::from_vector(std::vector<double>{0, 1}, {2});
  }
  static std::unique_ptr<SegClsNet> make_net() {
    SegClsConfig c;
    c.trunk = keras_resnet50(0);
    Rng rng(6);
    return std::make_unique<SegClsNet>(c, rng);
  }
  Tensor loss(SegClsNet& net) const {
    const Device d = net.parameters()[0]->value.device();
    return net.loss(net.forward(x.to(d)), masks.to(d), melanoma.to(d), sk.to(d)).total;
  }
};

TEST(NetworkGradientsCuda, SegClsStepMatchesTheCpu) {
  REQUIRE_CUDA();
  expect_gpu_step_matches_cpu<SegClsCase>(false, "Yang et al., fp32");
}

TEST(NetworkGradientsCuda, SegClsBf16StepMatchesTheCpuBf16) {
  REQUIRE_CUDA();
  expect_gpu_step_matches_cpu<SegClsCase>(true, "Yang et al., bf16");
}

}  // namespace
}  // namespace skinmtl
