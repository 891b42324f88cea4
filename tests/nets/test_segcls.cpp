// nets/segcls.h, the Yang et al. segmentation + two binary classifications
// model: output shapes at odd input sizes, the single-task variants, the loss
// on a hand case, the learning-rate multipliers, stable checkpoint names, the
// gradient reaching the shared encoder, and a tiny training run on synthetic
// lesions whose loss falls. Randomly initialised trunks throughout (the
// pretrained one is the training command's business).
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "framework/autograd.h"
#include "framework/optimizer.h"
#include "io/checkpoint.h"
#include "io/synthetic.h"
#include "nets/segcls.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

SegClsConfig config(SegClsTasks tasks) {
  SegClsConfig c;
  c.tasks = tasks;
  return c;
}

// Drawing a ResNet-50's 25 million initial weights takes seconds, so the tests
// that only look at a model share one of each variant (seed 1), built on first
// use. A test that trains builds its own.
SegClsNet& shared_net(SegClsTasks tasks) {
  static std::map<SegClsTasks, std::unique_ptr<SegClsNet>> nets;
  auto& net = nets[tasks];
  if (!net) {
    Rng rng(1);
    net = std::make_unique<SegClsNet>(config(tasks), rng);
  }
  return *net;
}

std::set<std::string> parameter_names(SegClsNet& net) {
  std::set<std::string> names;
  for (auto& [name, p] : net.named_parameters()) names.insert(name);
  return names;
}

bool any_name_starts_with(const std::set<std::string>& names, const std::string& prefix) {
  for (const std::string& n : names)
    if (n.rfind(prefix, 0) == 0) return true;
  return false;
}

double softplus(double x) { return std::log1p(std::exp(x)); }
double sigmoid_of(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(SegCls, OutputShapesAtOddSizes) {
  SegClsNet& net = shared_net(SegClsTasks::Both);
  net.eval();
  NoGradGuard no_grad;
  // 70 x 50: stages of 35x25, 18x13, 9x7, 5x4, 3x2; every level's odd size must
  // be matched exactly by the upsampling. 192 x 256: the ISIC 2017 images here.
  for (auto [n, h, w] : {std::tuple<int, int, int>{2, 70, 50}, {1, 192, 256}}) {
    Rng r(2);
    auto o = net.forward(test::uniform64({n, 3, h, w}, r, -50, 50).to(DType::F32));
    EXPECT_EQ(o.mask_logits.shape(), (Shape{n, 1, h, w}));
    EXPECT_EQ(o.melanoma_logit.shape(), (Shape{n}));
    EXPECT_EQ(o.sk_logit.shape(), (Shape{n}));
    for (double v : o.mask_logits.to_vector()) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(SegCls, SingleTaskVariantsHaveOnlyTheirParametersAndOutputs) {
  SegClsNet &both = shared_net(SegClsTasks::Both), &seg = shared_net(SegClsTasks::Seg),
            &cls = shared_net(SegClsTasks::Cls);
  const auto nb = parameter_names(both), ns = parameter_names(seg), nc = parameter_names(cls);
  for (const char* p : {"trunk.", "decoder.block4.", "decoder.block1.", "mask_head.", "melanoma_head.", "sk_head."})
    EXPECT_TRUE(any_name_starts_with(nb, p)) << p;
  EXPECT_TRUE(any_name_starts_with(ns, "decoder.") && any_name_starts_with(ns, "mask_head."));
  EXPECT_FALSE(any_name_starts_with(ns, "melanoma_head.") || any_name_starts_with(ns, "sk_head."));
  EXPECT_TRUE(any_name_starts_with(nc, "melanoma_head.") && any_name_starts_with(nc, "sk_head."));
  EXPECT_FALSE(any_name_starts_with(nc, "decoder.") || any_name_starts_with(nc, "mask_head."));
  // Both = the union of the two single-task variants (the trunk shared).
  std::set<std::string> u = ns;
  u.insert(nc.begin(), nc.end());
  EXPECT_EQ(u, nb);
  EXPECT_TRUE(seg.has_seg() && !seg.has_cls() && cls.has_cls() && !cls.has_seg());

  NoGradGuard no_grad;
  seg.eval();
  cls.eval();
  Rng r(3);
  const Tensor x = test::uniform64({1, 3, 40, 36}, r, -50, 50).to(DType::F32);
  auto os = seg.forward(x), oc = cls.forward(x);
  EXPECT_TRUE(os.mask_logits.defined());
  EXPECT_FALSE(os.melanoma_logit.defined() || os.sk_logit.defined());
  EXPECT_FALSE(oc.mask_logits.defined());
  EXPECT_TRUE(oc.melanoma_logit.defined() && oc.sk_logit.defined());
  // Each variant's loss holds only its own terms; the other task's targets may be absent.
  auto ls = seg.loss(os, Tensor::zeros({1, 1, 40, 36}), Tensor(), Tensor());
  EXPECT_TRUE(ls.seg.defined());
  EXPECT_FALSE(ls.melanoma.defined() || ls.sk.defined() || ls.jaccard.defined());
  EXPECT_DOUBLE_EQ(ls.total.item(), ls.seg.item());
  auto lc = cls.loss(oc, Tensor(), Tensor::ones({1}), Tensor::zeros({1}));
  EXPECT_FALSE(lc.seg.defined());
  EXPECT_NEAR(lc.total.item(), lc.melanoma.item() + lc.sk.item(), 1e-6);
}

TEST(SegCls, LossOnAHandCase) {
  SegClsNet& net = shared_net(SegClsTasks::Both);
  // Two images of 1x2 pixels.
  SegClsNet::Output o;
  const std::vector<double> x = {0.0, 2.0, -1.0, 3.0}, t = {0, 1, 1, 0};
  o.mask_logits = Tensor::from_vector(x, {2, 1, 1, 2}, DType::F64);
  o.melanoma_logit = Tensor::from_vector(std::vector<double>{0.5, -2.0}, {2}, DType::F64);
  o.sk_logit = Tensor::from_vector(std::vector<double>{-1.0, 1.5}, {2}, DType::F64);
  const Tensor masks = Tensor::from_vector(t, {2, 1, 1, 2}, DType::F64);
  const Tensor mel = Tensor::from_vector(std::vector<double>{1, 0}, {2}, DType::F64);
  const Tensor sk = Tensor::from_vector(std::vector<double>{0, 0}, {2}, DType::F64);
  // BCE with logits: softplus(x) - t x.
  double seg = 0;
  for (int i = 0; i < 4; ++i) seg += softplus(x[i]) - t[i] * x[i];
  seg /= 4;  // the per-pixel mean
  const double mel_l = (softplus(0.5) - 0.5 + softplus(-2.0)) / 2;
  const double sk_l = (softplus(-1.0) + softplus(1.5)) / 2;
  // Soft Jaccard distance per image, smooth s: s (1 - (sum pt + s) / (sum p + t - pt + s)).
  const double s = 10;
  double jac = 0;
  for (int img = 0; img < 2; ++img) {
    double inter = 0, uni = 0;
    for (int k = 0; k < 2; ++k) {
      const double p = sigmoid_of(x[img * 2 + k]), tt = t[img * 2 + k];
      inter += p * tt;
      uni += p + tt - p * tt;
    }
    jac += s * (1 - (inter + s) / (uni + s));
  }
  jac /= 2;

  auto l = net.loss(o, masks, mel, sk);  // default weights: 1, 0, 1, 1
  EXPECT_NEAR(l.seg.item(), seg, 1e-12);
  EXPECT_NEAR(l.melanoma.item(), mel_l, 1e-12);
  EXPECT_NEAR(l.sk.item(), sk_l, 1e-12);
  EXPECT_FALSE(l.jaccard.defined());
  EXPECT_NEAR(l.total.item(), seg + mel_l + sk_l, 1e-12);

  SegClsLossWeights w;
  w.seg = 2;
  w.jaccard = 0.25;
  w.jaccard_smooth = s;
  w.melanoma = 0.5;
  w.sk = 0;  // computed and reported, but not in the total
  l = net.loss(o, masks, mel, sk, w);
  EXPECT_NEAR(l.jaccard.item(), jac, 1e-12);
  EXPECT_NEAR(l.sk.item(), sk_l, 1e-12);
  EXPECT_NEAR(l.total.item(), 2 * seg + 0.25 * jac + 0.5 * mel_l, 1e-12);
  // The gradient through the weighted sum, checked against finite differences.
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        SegClsNet::Output oo{in[0], in[1], in[2]};
        return net.loss(oo, masks, mel, sk, w).total;
      },
      {o.mask_logits, o.melanoma_logit, o.sk_logit});

  // A mask of the wrong size is a clear error.
  EXPECT_THROW(net.loss(o, Tensor::zeros({2, 1, 2, 2}, DType::F64), mel, sk), Error);
  w = SegClsLossWeights{};
  w.seg = w.melanoma = w.sk = 0;
  EXPECT_THROW(net.loss(o, masks, mel, sk, w), Error);
}

TEST(SegCls, NewLayersHaveTheirLrAndDecayMultipliers) {
  SegClsNet& net = shared_net(SegClsTasks::Both);
  std::map<std::string, Parameter*> p;
  for (auto& [name, param] : net.named_parameters()) p[name] = param;
  auto mult = [&](const std::string& name) {
    EXPECT_TRUE(p.count(name)) << name;
    return p.count(name) ? std::pair<float, float>{p[name]->lr_mult, p[name]->decay_mult}
                         : std::pair<float, float>{-1, -1};
  };
  using M = std::pair<float, float>;
  // The default config: new weights x1, new biases (and BN betas) x2, no decay
  // on biases and BN parameters; the trunk x1 with decay.
  EXPECT_EQ(mult("trunk.conv1.weight"), M(1, 1));
  EXPECT_EQ(mult("trunk.layer4.2.bn3.bias"), M(1, 1));
  EXPECT_EQ(mult("decoder.block4.conv1.weight"), M(1, 1));
  EXPECT_EQ(mult("decoder.block1.bn2.weight"), M(1, 0));
  EXPECT_EQ(mult("decoder.block1.bn2.bias"), M(2, 0));
  EXPECT_EQ(mult("mask_head.weight"), M(1, 1));
  EXPECT_EQ(mult("mask_head.bias"), M(2, 0));
  EXPECT_EQ(mult("melanoma_head.weight"), M(1, 1));
  EXPECT_EQ(mult("sk_head.bias"), M(2, 0));
}

// The checkpoint keys are a file format: these names and shapes must not
// change, and a state written by one net loads into another exactly.
TEST(SegCls, StateDictNamesAreStable) {
  SegClsNet& a = shared_net(SegClsTasks::Both);
  TensorFile f = module_state(a);
  const std::map<std::string, Shape> expected = {
      {"trunk.conv1.weight", {64, 3, 7, 7}},
      {"trunk.layer4.2.conv3.weight", {2048, 512, 1, 1}},
      {"decoder.block4.conv1.weight", {256, 2048 + 1024, 3, 3}},
      {"decoder.block4.conv2.weight", {256, 256, 3, 3}},
      {"decoder.block4.bn1.running_mean", {256}},
      {"decoder.block3.conv1.weight", {128, 256 + 512, 3, 3}},
      {"decoder.block2.conv1.weight", {64, 128 + 256, 3, 3}},
      {"decoder.block1.conv1.weight", {32, 64 + 64, 3, 3}},
      {"decoder.block1.bn2.running_var", {32}},
      {"mask_head.weight", {1, 32, 1, 1}},
      {"mask_head.bias", {1}},
      {"melanoma_head.weight", {1, 2048}},
      {"melanoma_head.bias", {1}},
      {"sk_head.weight", {1, 2048}},
      {"sk_head.bias", {1}},
  };
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(f.tensors.count(name)) << name;
    EXPECT_EQ(f.tensors.at(name).shape(), shape) << name;
  }
  // 4 blocks x (2 convs + 2 BNs x 4 tensors) = 40 decoder tensors, 2 mask head, 4 heads.
  int64_t decoder = 0, other = 0;
  for (const auto& [name, t] : f.tensors) {
    if (name.rfind("decoder.", 0) == 0) ++decoder;
    else if (name.rfind("trunk.", 0) != 0) ++other;
  }
  EXPECT_EQ(decoder, 40);
  EXPECT_EQ(other, 6);

  Rng rng2(99);
  SegClsNet b(config(SegClsTasks::Both), rng2);
  load_module_state(b, f, "a's state");
  a.eval();
  b.eval();
  NoGradGuard no_grad;
  Rng r(4);
  const Tensor x = test::uniform64({1, 3, 33, 47}, r, -50, 50).to(DType::F32);
  auto oa = a.forward(x), ob = b.forward(x);
  EXPECT_EQ(oa.mask_logits.to_vector(), ob.mask_logits.to_vector());
  EXPECT_EQ(oa.melanoma_logit.to_vector(), ob.melanoma_logit.to_vector());
  // A seg-only state does not load into the two-task model (no silent half-load).
  EXPECT_THROW(load_module_state(b, module_state(shared_net(SegClsTasks::Seg)), "seg state"), Error);
}

double abs_sum(const Tensor& t) {
  double s = 0;
  for (double v : t.to_vector()) s += std::fabs(v);
  return s;
}

TEST(SegCls, EachTaskSendsAGradientIntoTheSharedEncoder) {
  for (SegClsTasks tasks : {SegClsTasks::Seg, SegClsTasks::Cls}) {
    SegClsNet& net = shared_net(tasks);
    net.train();
    net.zero_grad();
    Rng r(6);
    const Tensor x = test::uniform64({2, 3, 32, 32}, r, -50, 50).to(DType::F32);
    Tensor masks = Tensor::zeros({2, 1, 32, 32});
    auto o = net.forward(x);
    net.loss(o, masks, Tensor::ones({2}), Tensor::zeros({2})).total.backward();
    // The first conv of the trunk (the deepest point of the shared encoder).
    EXPECT_GT(abs_sum(net.trunk->conv1->weight->value.grad()), 0) << segcls_tasks_name(tasks);
    EXPECT_GT(abs_sum(net.trunk->layer4->blocks[2]->conv3->weight->value.grad()), 0) << segcls_tasks_name(tasks);
  }
}

// A 1x1 conv and nearest upsampling commute (what SegClsNet::forward relies on
// to convolve at H/2 instead of H).
TEST(SegCls, OneByOneConvCommutesWithNearestUpsampling) {
  Rng r(7);
  const Tensor x = test::uniform64({2, 4, 3, 5}, r), w = test::uniform64({1, 4, 1, 1}, r),
               b = test::uniform64({1}, r);
  const Conv2dParams p = Conv2dParams::make(1, 0);
  EXPECT_TENSORS_CLOSE(conv2d(upsample_nearest(x, 7, 10), w, b, p), upsample_nearest(conv2d(x, w, b, p), 7, 10),
                       1e-12, 1e-12);
}

// The model learns: 8 SGD steps over 8 synthetic lesions at 48x48, and the
// mask BCE of the joint loss (mask + both binary heads) falls by 30 %. Trunk BN on batch
// statistics, as training from scratch needs.
TEST(SegCls, TinyTrainingRunLossFalls) {
  SynthOptions so;
  so.size = 48;
  const std::vector<SynthSample> samples = synth_samples(11, 0, 8, so, 1);
  std::vector<Image> images;
  std::vector<double> masks, mel, sk;
  for (const SynthSample& s : samples) {
    images.push_back(s.image);
    for (uint8_t m : s.mask.data) masks.push_back(m > 127 ? 1.0 : 0.0);
    mel.push_back(s.melanoma());
    sk.push_back(s.seborrheic_keratosis());
  }
  const Tensor x = to_tensor(images), y = Tensor::from_vector(masks, {8, 1, 48, 48});
  const Tensor ym = Tensor::from_vector(mel, {8}), ys = Tensor::from_vector(sk, {8});

  Rng rng(1);
  SegClsNet net(config(SegClsTasks::Both), rng);
  net.set_trunk_bn_frozen(false);
  net.train();
  SGDOptions opt;
  opt.lr = 1e-3;
  opt.momentum = 0.9;
  opt.weight_decay = 1e-4;
  SGD sgd(net.parameters(), opt);
  std::vector<double> seg_losses;
  for (int step = 0; step < 8; ++step) {
    const int64_t b0 = (step % 2) * 4;  // two batches of 4
    sgd.zero_grad();
    auto o = net.forward(slice(x, 0, b0, b0 + 4));
    auto l = net.loss(o, slice(y, 0, b0, b0 + 4), slice(ym, 0, b0, b0 + 4), slice(ys, 0, b0, b0 + 4));
    l.total.backward();
    sgd.step();
    ASSERT_TRUE(std::isfinite(l.total.item()));
    seg_losses.push_back(l.seg.item());
  }
  const double first = (seg_losses[0] + seg_losses[1]) / 2, last = (seg_losses[6] + seg_losses[7]) / 2;
  EXPECT_LT(last, 0.7 * first) << "mask BCE: first " << first << ", last " << last;
}

}  // namespace
}  // namespace skinmtl
