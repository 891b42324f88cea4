// skinmtl against an independent reference: PyTorch (Debian's python3-torch and
// python3-torchvision, on the CPU).
//
// Each test writes weights and inputs to safetensors files in a temporary
// folder, runs tests/reference/torch_reference.py (which builds the same
// network from torchvision / torch.nn only, never from skinmtl code), reads
// back what PyTorch computed and compares it with what skinmtl computes from
// the same numbers:
//
//   ResNet-50 inference, eval mode, batch 2 at 224 x 224: pool5 features and logits
//     - random weights, torchvision's layout (stride "v1.5", no conv biases, BN eps 1e-5);
//     - random weights, the Keras layout (stride "v1", conv biases, BN eps 1e-3);
//     - the converted ImageNet weights (weights/resnet50_imagenet.safetensors,
//       skipped by name when `make weights` has not been run).
//     The random nets have random BN affine parameters and conv biases, and BN
//     running statistics that are neither 0 nor 1: they are calibrated by one
//     training-mode forward of another random batch with BN momentum 1, so
//     every layer's running mean/variance is that batch's (unbiased)
//     statistics and the activations keep a sane scale through all 16 blocks.
//   TinyMtlNet training (nets/tiny_net.h), 6 SGD steps in training mode from
//     the same initial weights on the same generated batches: the three losses
//     at every step, and every parameter and BN running statistic at the end.
//     This checks conv, BN (training statistics and running updates), ReLU,
//     max/avg/global pooling, the residual add, linear, both losses, their
//     backward passes and the SGD update against PyTorch's autograd and
//     torch.optim.SGD. Run in float64 (agreement to rounding, ~1e-12) and in
//     float32.
//     SGD: skinmtl's is Caffe's, v = m v + lr (g + wd w), w -= v; PyTorch's is
//     b = m b + (g + wd w), w -= lr b. With a constant lr both start from zero
//     and v = lr b after every step, so the two give the same weights up to
//     rounding (kernels/sgd.h explains where they differ: an lr change).
//   RoIAlign (torchvision.ops.roi_align), float64: features (2, 3, 13, 11) at
//     spatial_scale 0.5, ten RoIs with fractional coordinates on both images
//     (inside, partly outside, wholly outside, tiny, larger than the image),
//     a 5 x 4 output; aligned true and false, sampling_ratio 2 and 0
//     (adaptive): the output and the gradient to the features.
//   Detector and segmentation ops (Song et al. 2019), float64, forward and
//     gradient: upsample_nearest (F.interpolate mode='nearest', integer and
//     non-integer ratios, up and down), smooth_l1_loss (F.smooth_l1_loss with
//     reduction='none', times the weights), sigmoid_focal_loss (eq. 2 written
//     in torch; and, with alpha = 1 and RetinaNet's alpha_t as the weights,
//     torchvision.ops.sigmoid_focal_loss on 0/1 targets), softmax_focal_loss
//     (F.log_softmax and the focal factor, written in torch), soft_jaccard_distance
//     (written in torch).
//
// The metric. For an output a (skinmtl) and its reference b (PyTorch):
//   scaled error = max_i |a_i - b_i| / max_i |b_i|
// must be <= 1e-4 in float32 (the "1e-4 relative"), and <= 1e-10 in
// float64. Relative to the largest value rather than element by element,
// because a logit or weight that happens to be ~0 has no meaningful relative
// error. The maximum elementwise relative error max_i |a_i - b_i| / |b_i| is
// printed as well (over all elements, and over the elements with
// |b_i| >= 1% of max |b|), for the record, not asserted.
// Typical float32 values: ~5e-7 with the ImageNet weights, ~3e-5 with the
// random nets (random weights amplify rounding more through 16 blocks; the
// float64 run of the same net agrees to ~3e-14, so the formulas are the same).
//
// Without torch (no python3-torch / python3-torchvision under /usr/bin/python3)
// every test here is skipped by name with the reason.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "framework/autograd.h"
#include "framework/optimizer.h"
#include "io/resnet50_import.h"
#include "io/safetensors.h"
#include "io/toy_data.h"
#include "nets/resnet50.h"
#include "nets/tiny_net.h"
#include "tests/temp_dir.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

const char* const kPython = "/usr/bin/python3";  // Debian's, where python3-torch installs
const char* const kScript = "tests/reference/torch_reference.py";

// Empty when torch and torchvision import; otherwise why the tests skip.
const std::string& torch_missing() {
  static const std::string reason = [] {
    const std::string cmd =
        std::string(kPython) + " -c 'import torch, torchvision' > /dev/null 2>&1";
    return std::system(cmd.c_str()) == 0 ? std::string()
                                         : std::string("python3-torch not installed: make deps installs it");
  }();
  return reason;
}

#define REQUIRE_TORCH()                                                        \
  do {                                                                         \
    if (!torch_missing().empty()) GTEST_SKIP() << torch_missing();             \
    ASSERT_TRUE(std::filesystem::exists(kScript))                              \
        << kScript << " not found: run the tests from the repository root";    \
  } while (0)

// Runs the reference script with `args`; its stderr shows in the test log.
void run_reference(const std::string& args) {
  const std::string cmd = std::string(kPython) + " " + kScript + " " + args;
  const int rc = std::system(cmd.c_str());
  SKINMTL_CHECK(rc == 0, "torch reference failed (status " << rc << "): " << cmd);
}

// ---- weights by name --------------------------------------------------------------------

// Copies every parameter and buffer of `m` from `f` by name, converting to the
// module's dtype; every tensor of `f` must be used. (A private copy for this
// test: the tools load checkpoints through nets/resnet50_weights.*.)
void copy_by_name(Module& m, const TensorFile& f) {
  size_t used = 0;
  auto copy = [&](const std::string& name, Tensor& dst) {
    SKINMTL_CHECK(f.has(name), "copy_by_name: the file has no tensor " << name);
    const Tensor& src = f.at(name);
    SKINMTL_CHECK(src.shape() == dst.shape(), "copy_by_name: " << name << " is " << src.str()
                                                               << ", the module's " << dst.str());
    dst.copy_from(src.to(dst.dtype()));
    ++used;
  };
  for (auto& [name, p] : m.named_parameters()) copy(name, p->value);
  for (auto& [name, b] : m.named_buffers()) copy(name, *b);
  SKINMTL_CHECK(used == f.tensors.size(),
                "copy_by_name: the file has " << f.tensors.size() << " tensors, the module " << used);
}

// Every parameter and buffer of `m`, by name, on the CPU.
TensorFile state_of(Module& m) {
  TensorFile f;
  for (auto& [name, p] : m.named_parameters()) f.tensors[name] = p->value.detach().to(Device::CPU);
  for (auto& [name, b] : m.named_buffers()) f.tensors[name] = b->to(Device::CPU);
  return f;
}

// Converts every parameter and buffer of `m` to float64 (CPU).
void to_f64(Module& m) {
  for (auto& [name, p] : m.named_parameters()) {
    p->value = p->value.detach().to(DType::F64);
    p->value.set_requires_grad(true);
  }
  for (auto& [name, b] : m.named_buffers()) *b = b->to(DType::F64);
}

// ---- the metric -------------------------------------------------------------------------

struct Diff {
  double scaled = 0;       // max |a - b| / max |b|
  double max_abs = 0;      // max |a - b|
  double max_ref = 0;      // max |b|
  double max_rel = 0;      // max |a - b| / |b| over all elements (b != 0)
  double max_rel_big = 0;  // the same over the elements with |b| >= 0.01 max |b|
  std::string str() const {
    std::ostringstream os;
    os.precision(3);
    os << std::scientific << "max|a-b|/max|b| = " << scaled << " (max|a-b| " << max_abs
       << ", max|b| " << max_ref << "); elementwise max|a-b|/|b| = " << max_rel
       << ", over |b| >= 1% max|b|: " << max_rel_big;
    return os.str();
  }
};

Diff compare(const Tensor& ours, const Tensor& ref) {
  SKINMTL_CHECK(ours.shape() == ref.shape(), "compare: " << ours.str() << " vs " << ref.str());
  const std::vector<double> a = ours.to(Device::CPU).to_vector(), b = ref.to_vector();
  Diff d;
  for (size_t i = 0; i < a.size(); ++i) {
    SKINMTL_CHECK(std::isfinite(a[i]) && std::isfinite(b[i]), "compare: non-finite value at " << i);
    d.max_abs = std::max(d.max_abs, std::fabs(a[i] - b[i]));
    d.max_ref = std::max(d.max_ref, std::fabs(b[i]));
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (b[i] == 0) continue;
    const double rel = std::fabs(a[i] - b[i]) / std::fabs(b[i]);
    d.max_rel = std::max(d.max_rel, rel);
    if (std::fabs(b[i]) >= 0.01 * d.max_ref) d.max_rel_big = std::max(d.max_rel_big, rel);
  }
  d.scaled = d.max_ref > 0 ? d.max_abs / d.max_ref : d.max_abs;
  return d;
}

void report(const std::string& what, const Diff& d) {
  std::printf("[ torch-ref ] %-40s %s\n", what.c_str(), d.str().c_str());
  std::fflush(stdout);
}

// ---- ResNet-50 inference ------------------------------------------------------------------

// Runs `net` (eval mode) and the reference on `input`; compares features and logits.
void check_resnet50(ResNet50& net, const std::string& weights_path, const Tensor& input,
                    const test::TempDir& dir, const std::string& label, double tol) {
  TensorFile in;
  in.tensors["input"] = input;
  save_safetensors(dir.path("input.safetensors"), in);
  run_reference("resnet50 --weights " + weights_path + " --input " + dir.path("input.safetensors") +
                " --out " + dir.path("out.safetensors"));
  const TensorFile ref = load_safetensors(dir.path("out.safetensors"));

  net.eval();
  NoGradGuard no_grad;
  const Tensor features = net.features(input);
  const Tensor logits = net.fc->forward(features);
  const Diff df = compare(features, ref.at("features")), dl = compare(logits, ref.at("logits"));
  report(label + " features (pool5)", df);
  report(label + " logits", dl);
  EXPECT_LE(df.scaled, tol) << "features: " << df.str();
  EXPECT_LE(dl.scaled, tol) << "logits: " << dl.str();
  // A meaningful comparison: the outputs are not all (nearly) equal.
  EXPECT_GT(dl.max_ref, 1e-2);
}

// Every batch norm of a ResNet-50, in network order (53).
std::vector<BatchNorm2d*> batch_norms(ResNet50& net) {
  std::vector<BatchNorm2d*> all{net.bn1.get()};
  for (auto* layer : {net.layer1.get(), net.layer2.get(), net.layer3.get(), net.layer4.get()})
    for (auto& b : layer->blocks) {
      all.insert(all.end(), {b->bn1.get(), b->bn2.get(), b->bn3.get()});
      if (b->downsample) all.push_back(b->downsample->bn.get());
    }
  return all;
}

// A random ResNet-50 with non-trivial BN statistics (see the file comment),
// saved with the metadata the reference builds its network from.
void random_resnet50_case(const ResNetConfig& cfg, DType dtype, double tol, const std::string& label) {
  Rng rng(11);
  ResNet50 net(cfg, rng);
  if (dtype == DType::F64) to_f64(net);
  const std::vector<BatchNorm2d*> bns = batch_norms(net);
  ASSERT_EQ(bns.size(), 53u);
  std::set<const Parameter*> bn_params;
  for (BatchNorm2d* bn : bns) {
    bn->gamma->value.copy_from(rand_uniform({bn->gamma->value.numel()}, rng, 0.4, 1.0, dtype));
    bn->beta->value.copy_from(rand_uniform({bn->beta->value.numel()}, rng, -0.3, 0.3, dtype));
    bn_params.insert({bn->gamma, bn->beta});
  }
  for (auto& [name, p] : net.named_parameters()) {  // conv biases (fc's is random already)
    const bool bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (bias && !bn_params.count(p) && name != "fc.bias")
      p->value.copy_from(rand_uniform(p->value.shape(), rng, -0.1, 0.1, dtype));
  }
  // Calibrate the running statistics: one training-mode forward with momentum 1.
  for (BatchNorm2d* bn : bns) bn->momentum = 1.0;
  net.train();
  {
    NoGradGuard no_grad;
    net.features(randn({2, 3, 224, 224}, rng, 1.0, dtype));
  }
  for (BatchNorm2d* bn : bns) bn->momentum = 0.1;
  // Not 0/1: spot-check one layer deep in the net.
  const std::vector<double> rv = net.layer3->blocks[2]->bn2->running_var->to_vector();
  EXPECT_GT(std::fabs(rv[0] - 1.0), 1e-3);

  test::TempDir dir;
  TensorFile f = state_of(net);
  f.metadata["stride_placement"] = resnet_stride_name(cfg.stride);
  f.metadata["conv_bias"] = cfg.conv_bias ? "true" : "false";
  std::ostringstream eps;
  eps.precision(17);
  eps << cfg.bn_eps;
  f.metadata["bn_eps"] = eps.str();
  save_safetensors(dir.path("weights.safetensors"), f);
  check_resnet50(net, dir.path("weights.safetensors"), randn({2, 3, 224, 224}, rng, 1.0, dtype), dir,
                 label, tol);
}

TEST(TorchReference, Resnet50RandomTorchvisionLayout) {
  REQUIRE_TORCH();
  ResNetConfig cfg;
  cfg.stride = ResNetStride::V1_5;
  cfg.bn_eps = 1e-5;
  cfg.conv_bias = false;
  random_resnet50_case(cfg, DType::F32, 1e-4, "resnet50 random v1.5");
}

TEST(TorchReference, Resnet50RandomKerasLayout) {
  REQUIRE_TORCH();
  random_resnet50_case(keras_resnet50(1000), DType::F32, 1e-4, "resnet50 random v1+bias");
}

// The same in float64 on both sides: agreement to rounding shows that the
// float32 differences above are float32 rounding, not a formula difference.
TEST(TorchReference, Resnet50RandomKerasLayoutFloat64) {
  REQUIRE_TORCH();
  random_resnet50_case(keras_resnet50(1000), DType::F64, 1e-10, "resnet50 random v1+bias f64");
}

TEST(TorchReference, Resnet50ImagenetWeights) {
  const std::string path = "weights/resnet50_imagenet.safetensors";
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << path << " not found (run `make weights` to fetch and convert it)";
  REQUIRE_TORCH();
  const TensorFile f = load_torchvision_resnet50(path);
  const Resnet50Info info = resnet50_info(f);
  ResNetConfig cfg;
  cfg.stride = info.stride_placement == "v1" ? ResNetStride::V1 : ResNetStride::V1_5;
  cfg.bn_eps = info.bn_eps;
  cfg.conv_bias = info.conv_bias;
  cfg.classes = info.num_classes;
  Rng rng(5);
  ResNet50 net(cfg, rng);
  copy_by_name(net, f);
  // An image-like input: smooth colour gradients, blobs and noise in 0..255,
  // normalised as the checkpoint says.
  const int N = 2, S = 224;
  std::vector<float> px((size_t)N * 3 * S * S);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < S; ++y)
        for (int x = 0; x < S; ++x) {
          double v = 128 + 70 * std::sin(0.03 * (x + 2 * y) * (n + 1) + c) +
                     40 * std::cos(0.11 * x - 0.07 * y * (c + 1)) + rng.normal(0, 12);
          v = std::min(255.0, std::max(0.0, v));
          px[(((size_t)n * 3 + c) * S + y) * S + x] =
              (float)((v - info.input_mean[c]) / info.input_std[c]);
        }
  test::TempDir dir;
  check_resnet50(net, path, Tensor::from_vector(px, {N, 3, S, S}), dir, "resnet50 imagenet",
                 1e-4);
}

// ---- TinyMtlNet training --------------------------------------------------------------------

void tiny_training_case(DType dtype, double tol, const std::string& label) {
  const int steps = 6, batch = 16, nbatches = 2;
  const double lr = 0.05, momentum = 0.9, wd = 1e-3;
  Rng rng(3);
  TinyMtlNet net(kToyLesionTypes, kToySites, rng, 8);
  if (dtype == DType::F64) to_f64(net);
  net.train();
  test::TempDir dir;
  save_safetensors(dir.path("init.safetensors"), state_of(net));

  ToyDataSpec spec;
  spec.size = 16;
  std::vector<ToyBatch> data;
  TensorFile df;
  for (int b = 0; b < nbatches; ++b) {
    data.push_back(make_toy_batch(batch, 200 + b, spec));
    ToyBatch& t = data.back();
    t.images = t.images.to(dtype);
    t.lesions = t.lesions.to(dtype);
    t.sites = t.sites.to(dtype);
    df.tensors["images." + std::to_string(b)] = t.images;
    df.tensors["lesions." + std::to_string(b)] = t.lesions;
    df.tensors["sites." + std::to_string(b)] = t.sites;
  }
  save_safetensors(dir.path("data.safetensors"), df);
  std::ostringstream args;
  args.precision(17);
  args << "tiny --init " << dir.path("init.safetensors") << " --data " << dir.path("data.safetensors")
       << " --steps " << steps << " --lr " << lr << " --momentum " << momentum << " --weight-decay "
       << wd << " --out " << dir.path("out.safetensors");
  run_reference(args.str());
  const TensorFile ref = load_safetensors(dir.path("out.safetensors"));

  SGDOptions opt;
  opt.lr = lr;
  opt.momentum = momentum;
  opt.weight_decay = wd;
  SGD sgd(net.parameters(), opt);
  std::vector<double> total, lesion, site;
  for (int s = 0; s < steps; ++s) {
    const ToyBatch& b = data[s % nbatches];
    sgd.zero_grad();
    auto l = net.loss(net.forward(b.images), b.lesions, b.sites);
    l.total.backward();
    sgd.step();
    total.push_back(l.total.item());
    lesion.push_back(l.lesion.item());
    site.push_back(l.site.item());
  }
  auto as_tensor = [&](const std::vector<double>& v) {
    return Tensor::from_vector(v, {(int64_t)v.size()}, dtype);
  };
  const Diff dt = compare(as_tensor(total), ref.at("loss.total"));
  const Diff dl = compare(as_tensor(lesion), ref.at("loss.lesion"));
  const Diff ds = compare(as_tensor(site), ref.at("loss.site"));
  report(label + " loss (total, per step)", dt);
  EXPECT_LE(dt.scaled, tol) << dt.str();
  EXPECT_LE(dl.scaled, tol) << "lesion loss: " << dl.str();
  EXPECT_LE(ds.scaled, tol) << "site loss: " << ds.str();
  // Training moved the weights: the final state differs from the initial one.
  EXPECT_NE(total.front(), total.back());

  Diff worst;
  std::string worst_name;
  const TensorFile mine = state_of(net);
  size_t compared = 0;
  for (const auto& [name, t] : mine.tensors) {
    const Diff d = compare(t, ref.at(name));
    EXPECT_LE(d.scaled, tol) << name << ": " << d.str();
    if (d.scaled >= worst.scaled) worst = d, worst_name = name;
    ++compared;
  }
  // 3 conv weights, 3 BNs x (weight, bias, running_mean, running_var), 2 heads x (weight, bias).
  EXPECT_EQ(compared, 3u + 3 * 4 + 2 * 2);
  EXPECT_EQ(ref.tensors.size(), compared + 3);  // and the three loss curves
  report(label + " final state, worst: " + worst_name, worst);
}

TEST(TorchReference, TinyMtlTrainingFloat64) {
  REQUIRE_TORCH();
  tiny_training_case(DType::F64, 1e-10, "tiny training f64");
}

TEST(TorchReference, TinyMtlTrainingFloat32) {
  REQUIRE_TORCH();
  tiny_training_case(DType::F32, 1e-4, "tiny training f32");
}

// ---- RoIAlign --------------------------------------------------------------------------------

TEST(TorchReference, RoiAlignFloat64) {
  REQUIRE_TORCH();
  Rng rng(17);
  const double scale = 0.5;  // the features are a 13 x 11 map of a 26 x 22 image
  const Tensor x = rand_uniform({2, 3, 13, 11}, rng, -1.0, 1.0, DType::F64);
  const std::vector<double> rows = {
      0, 2.3, 3.1, 15.7, 20.2,     // inside
      1, 0.4, 0.9, 21.6, 25.8,     // nearly the whole image
      1, -6.2, 4.4, 5.1, 12.9,     // partly outside on the left
      0, 15.3, -3.7, 29.8, 9.6,    // partly outside on the right and top
      0, 10.1, 10.2, 10.9, 11.3,   // tiny (legacy mode widens it)
      1, -20.5, -18.2, 45.6, 50.1, // larger than the image (adaptive grid 4 x 4)
      0, 30.5, 1.0, 40.2, 8.5,     // wholly outside
      1, 7.0, 7.0, 7.0, 12.0,      // zero width
      0, 4.25, 6.75, 12.5, 9.0,    // quarter-pixel corners
      1, 11.0, 13.0, 19.0, 21.0};  // integer corners
  const Tensor rois = Tensor::from_vector(rows, {10, 5}, DType::F64);
  const Tensor dy = rand_uniform({10, 3, 5, 4}, rng, -1.0, 1.0, DType::F64);

  test::TempDir dir;
  TensorFile in;
  in.tensors["features"] = x;
  in.tensors["rois"] = rois;
  in.tensors["grad_out"] = dy;
  save_safetensors(dir.path("in.safetensors"), in);
  std::ostringstream args;
  args.precision(17);
  args << "roi_align --input " << dir.path("in.safetensors") << " --spatial-scale " << scale
       << " --out " << dir.path("out.safetensors");
  run_reference(args.str());
  const TensorFile ref = load_safetensors(dir.path("out.safetensors"));

  for (bool aligned : {true, false})
    for (int sr : {2, 0}) {
      const std::string key =
          std::string("aligned") + (aligned ? "1" : "0") + ".sr" + std::to_string(sr);
      RoiAlignParams p;
      p.out_h = 5;
      p.out_w = 4;
      p.spatial_scale = scale;
      p.sampling_ratio = sr;
      p.aligned = aligned;
      Tensor xg = x.clone().set_requires_grad(true);
      Tensor y = roi_align(xg, rois, p);
      y.backward(dy);
      const Diff dfy = compare(y, ref.at("y." + key)), dfx = compare(xg.grad(), ref.at("dx." + key));
      report("roi_align " + key + " output", dfy);
      report("roi_align " + key + " feature grad", dfx);
      EXPECT_LE(dfy.scaled, 1e-12) << key << " output: " << dfy.str();
      EXPECT_LE(dfx.scaled, 1e-12) << key << " gradient: " << dfx.str();
      EXPECT_GT(dfy.max_ref, 1e-2) << key;  // a meaningful comparison
    }
}

// ---- detector and segmentation ops ---------------------------------------------------------

// One op case: x (the input that gets the gradient) and the other operands by
// field name, all float64; `op` computes the output from them.
struct OpCase {
  std::string name;  // "<kind>.<k>": the kind selects the torch code in torch_reference.py
  Tensor x;
  std::map<std::string, Tensor> fields;
  std::function<Tensor(const Tensor& x, const std::map<std::string, Tensor>& f)> op;
};

Tensor scalar64(double v) { return Tensor::full({}, v, DType::F64); }

Tensor hard_targets(const Shape& s, Rng& rng) {
  std::vector<double> v((size_t)shape_numel(s));
  for (double& t : v) t = (double)rng.randint(0, 2);
  return Tensor::from_vector(v, s, DType::F64);
}

std::vector<OpCase> op_cases() {
  Rng rng(21);
  std::vector<OpCase> c;
  auto u = [&](const Shape& s, double lo, double hi) { return rand_uniform(s, rng, lo, hi, DType::F64); };
  // upsample_nearest: 2x, non-integer up, down, one size each way, identity.
  const std::vector<std::pair<Shape, std::pair<int64_t, int64_t>>> ups = {
      {{2, 3, 4, 3}, {8, 6}},   {{2, 3, 3, 5}, {7, 11}}, {{1, 2, 7, 5}, {3, 2}},
      {{1, 3, 13, 10}, {29, 23}}, {{1, 2, 9, 4}, {5, 10}}, {{2, 2, 5, 6}, {5, 6}}};
  for (size_t k = 0; k < ups.size(); ++k) {
    const auto [oh, ow] = ups[k].second;
    c.push_back({"upsample." + std::to_string(k), u(ups[k].first, -1, 1),
                 {{"size", Tensor::from_vector(std::vector<double>{(double)oh, (double)ow}, {2},
                                               DType::F64)}},
                 [oh = oh, ow = ow](const Tensor& x, const std::map<std::string, Tensor>&) {
                   return upsample_nearest(x, oh, ow);
                 }});
  }
  // smooth_l1_loss: eq. 3 (beta 1), Faster R-CNN's RPN beta 1/9, and L1.
  int k = 0;
  for (double beta : {1.0, 1.0 / 9.0, 0.0}) {
    c.push_back({"smooth_l1." + std::to_string(k++), u({3, 7, 4}, -2, 2),
                 {{"t", u({3, 7, 4}, -1, 1)}, {"w", u({3, 7, 4}, 0, 2)}, {"beta", scalar64(beta)}},
                 [](const Tensor& x, const std::map<std::string, Tensor>& f) {
                   return smooth_l1_loss(x, f.at("t"), f.at("w"), f.at("beta").item());
                 }});
  }
  // sigmoid_focal_loss (eq. 2): hard and soft targets, several (alpha, gamma).
  k = 0;
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {0.6, 0.5}, {1.0, 0.0}, {0.25, 3.0}}) {
    for (bool soft : {false, true}) {
      c.push_back({"focal." + std::to_string(k++), u({4, 9, 5}, -8, 8),
                   {{"y", soft ? u({4, 9, 5}, 0, 1) : hard_targets({4, 9, 5}, rng)},
                    {"w", u({4, 9, 5}, 0, 2)},
                    {"alpha", scalar64(alpha)},
                    {"gamma", scalar64(gamma)}},
                   [](const Tensor& x, const std::map<std::string, Tensor>& f) {
                     return sigmoid_focal_loss(x, f.at("y"), f.at("w"), f.at("alpha").item(),
                                               f.at("gamma").item());
                   }});
    }
  }
  // RetinaNet's weighting through the weights: alpha = 1, w = alpha_t.
  k = 0;
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {0.75, 1.5}}) {
    Tensor y = hard_targets({6, 11}, rng);
    std::vector<double> w = y.to_vector();
    for (double& v : w) v = alpha * v + (1 - alpha) * (1 - v);
    c.push_back({"focal_torchvision." + std::to_string(k++), u({6, 11}, -6, 6),
                 {{"y", y},
                  {"w", Tensor::from_vector(w, {6, 11}, DType::F64)},
                  {"alpha", scalar64(alpha)},
                  {"gamma", scalar64(gamma)}},
                 [](const Tensor& x, const std::map<std::string, Tensor>& f) {
                   return sigmoid_focal_loss(x, f.at("y"), f.at("w"), 1.0, f.at("gamma").item());
                 }});
  }
  // softmax_focal_loss: the Classify subnet's three classes and a wider row, several (alpha, gamma).
  k = 0;
  for (auto [alpha, gamma] : {std::pair<double, double>{0.25, 2.0}, {0.6, 0.5}, {1.0, 0.0}}) {
    for (int64_t K : {3, 7}) {
      std::vector<double> labels(10);
      for (size_t n = 0; n < labels.size(); ++n) labels[n] = (double)(n < (size_t)K ? n : rng.randint(0, (int)K));
      c.push_back({"softmax_focal." + std::to_string(k++), u({10, K}, -6, 6),
                   {{"labels", Tensor::from_vector(labels, {10}, DType::F64)},
                    {"alpha", scalar64(alpha)},
                    {"gamma", scalar64(gamma)}},
                   [](const Tensor& x, const std::map<std::string, Tensor>& f) {
                     return softmax_focal_loss(x, f.at("labels"), f.at("alpha").item(), f.at("gamma").item());
                   }});
    }
  }
  // soft_jaccard_distance: the paper's smooth 100 and a small one; masks of
  // (N, 1, H, W) and soft targets; one empty target row.
  k = 0;
  for (double smooth : {100.0, 1.0}) {
    Tensor t = hard_targets({3, 1, 6, 7}, rng);
    std::vector<double> tv = t.to_vector();
    for (int j = 0; j < 42; ++j) tv[2 * 42 + j] = 0;  // the third mask is empty
    c.push_back({"jaccard." + std::to_string(k++), u({3, 1, 6, 7}, 0, 1),
                 {{"t", Tensor::from_vector(tv, {3, 1, 6, 7}, DType::F64)}, {"smooth", scalar64(smooth)}},
                 [](const Tensor& x, const std::map<std::string, Tensor>& f) {
                   return soft_jaccard_distance(x, f.at("t"), f.at("smooth").item());
                 }});
    c.push_back({"jaccard." + std::to_string(k++), u({2, 3, 5}, 0, 1),
                 {{"t", u({2, 3, 5}, 0, 1)}, {"smooth", scalar64(smooth)}},
                 [](const Tensor& x, const std::map<std::string, Tensor>& f) {
                   return soft_jaccard_distance(x, f.at("t"), f.at("smooth").item());
                 }});
  }
  return c;
}

TEST(TorchReference, DetectionOpsFloat64) {
  REQUIRE_TORCH();
  std::vector<OpCase> cases = op_cases();
  Rng rng(22);
  TensorFile in;
  std::vector<Tensor> xs, ys, dys;
  for (OpCase& oc : cases) {
    Tensor x = oc.x.clone().set_requires_grad(true);
    Tensor y = oc.op(x, oc.fields);
    // The upstream gradient: random for a map, a scalar other than 1 for a loss.
    Tensor dy = y.ndim() == 0 ? scalar64(0.7) : rand_uniform(y.shape(), rng, -1, 1, DType::F64);
    in.tensors[oc.name + ".x"] = oc.x;
    in.tensors[oc.name + ".dy"] = dy;
    for (const auto& [field, t] : oc.fields) in.tensors[oc.name + "." + field] = t;
    xs.push_back(x);
    ys.push_back(y);
    dys.push_back(dy);
  }
  test::TempDir dir;
  save_safetensors(dir.path("ops_in.safetensors"), in);
  run_reference("ops --input " + dir.path("ops_in.safetensors") + " --out " +
                dir.path("ops_out.safetensors"));
  const TensorFile ref = load_safetensors(dir.path("ops_out.safetensors"));
  EXPECT_EQ(ref.tensors.size(), 2 * cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    ys[i].backward(dys[i]);
    const Diff dy = compare(ys[i], ref.at(cases[i].name + ".y"));
    const Diff dx = compare(xs[i].grad(), ref.at(cases[i].name + ".dx"));
    report(cases[i].name + " output", dy);
    report(cases[i].name + " gradient", dx);
    EXPECT_LE(dy.scaled, 1e-12) << "output: " << dy.str();
    EXPECT_LE(dx.scaled, 1e-12) << "gradient: " << dx.str();
    // A meaningful comparison: neither side is all zeros.
    EXPECT_GT(dy.max_ref, 1e-3);
    EXPECT_GT(dx.max_ref, 1e-6);
  }
}

}  // namespace
}  // namespace skinmtl
