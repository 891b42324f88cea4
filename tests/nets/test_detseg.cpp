// Tests of the Song et al. detector (nets/fpn.h, nets/rpn.h, nets/roi_heads.h,
// nets/detseg.h): pyramid shapes and the top-down sum by hand, the RPN's
// layout against its anchors, finite losses with and without a lesion, which
// groups the three training phases reach, prediction's outputs, and a short
// overfitting run. Everything runs on the CPU at 64-128 pixels with a narrow
// pyramid (the ResNet-50 backbone is always full size), so the whole file
// stays within seconds on a 2-core machine.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "framework/autograd.h"
#include "framework/grad_clip.h"
#include "framework/optimizer.h"
#include "framework/trace.h"
#include "io/image.h"
#include "io/synthetic.h"
#include "nets/detseg.h"
#include "tests/test_util.h"

namespace skinmtl {
namespace {

// A narrow network: the pyramid, the heads and the samples shrunk so that a
// training step at 64-128 px costs little more than the backbone.
DetSegConfig tiny_config() {
  DetSegConfig c;
  c.channels = 16;
  c.heads.representation = 64;
  c.heads.mask_channels = 16;
  c.roi_sample.batch_size = 32;
  c.train_proposals = {300, 300, 0.7, 0.0};
  c.test_proposals = {100, 100, 0.7, 0.0};
  return c;
}

// Building a ResNet-50 draws 25 million random numbers (seconds on a busy
// 2-core machine), so the tests share one network, restored before each use
// to the same initial values, all parameters trainable, no gradients, in
// training mode: every test sees the same fresh network, in any order.
DetSegNet& fresh_net() {
  static std::unique_ptr<DetSegNet> net;
  static std::vector<Tensor> initial;
  if (!net) {
    Rng rng(4);
    net = std::make_unique<DetSegNet>(tiny_config(), rng);
    for (Parameter* p : net->parameters()) initial.push_back(p->value.clone());
    for (auto& [name, b] : net->named_buffers()) initial.push_back(b->clone());
  }
  size_t k = 0;
  for (Parameter* p : net->parameters()) {
    p->value.copy_from(initial[k++]);
    p->value.set_requires_grad(true);
    p->value.impl()->grad.reset();
  }
  for (auto& [name, b] : net->named_buffers()) b->copy_from(initial[k++]);
  net->train();
  return *net;
}

struct SynthBatch {
  Tensor images;  // (B, 3, S, S), mean subtracted
  DetSegTargets targets;
};

// Synthetic samples first .. first + n - 1 at size x size; `empty` clears the
// mask (and box) of every image.
SynthBatch synth_batch(int64_t first, int n, int size, bool empty = false) {
  SynthOptions so;
  so.size = size;
  std::vector<Image> images;
  std::vector<float> masks, boxes, malignant;
  for (int i = 0; i < n; ++i) {
    SynthSample s = synth_sample(7, first + i, so);
    images.push_back(s.image);
    for (uint8_t v : s.mask.data) masks.push_back(!empty && v >= 128 ? 1.0f : 0.0f);
    if (empty)
      boxes.insert(boxes.end(), {-1, -1, -1, -1});
    else
      boxes.insert(boxes.end(), {(float)s.box.x0, (float)s.box.y0, (float)s.box.x1, (float)s.box.y1});
    malignant.push_back(s.malignant() ? 1.0f : 0.0f);
  }
  SynthBatch b;
  b.images = to_tensor(images, Normalize{});
  b.targets.boxes = Tensor::from_vector(boxes, {n, 4});
  b.targets.malignant = Tensor::from_vector(malignant, {n});
  b.targets.masks = Tensor::from_vector(masks, {n, 1, size, size});
  return b;
}

bool finite(const Tensor& t) {
  for (double v : t.to(Device::CPU).to_vector())
    if (!std::isfinite(v)) return false;
  return true;
}

// ---- FPN ------------------------------------------------------------------------------------

// The pyramid's sizes through a real ResNet-50 (the shared network's, with a
// 16-channel pyramid), at a power of two and at an odd size.
void expect_pyramid(int size, const std::vector<int64_t>& sides) {
  DetSegNet& net = fresh_net();
  Rng rng(1);
  NoGradGuard no_grad;
  const std::vector<Tensor> p = net.features(randn({2, 3, size, size}, rng));
  ASSERT_EQ(p.size(), 5u);
  for (size_t l = 0; l < 5; ++l) {
    EXPECT_EQ(p[l].shape(), Shape({2, 16, sides[l], sides[l]})) << "P" << l + 2 << " at " << size;
    EXPECT_TRUE(finite(p[l]));
  }
}

TEST(Fpn, ShapesAt256) { expect_pyramid(256, {64, 32, 16, 8, 4}); }

TEST(Fpn, ShapesAtAnOddSize) {
  // 97 -> conv1 49 -> pool 25 (c2) -> 13 (c3) -> 7 (c4) -> 4 (c5) -> 2 (P6): the
  // top-down path up-samples 4 -> 7 -> 13 -> 25, not a plain 2x.
  expect_pyramid(97, {25, 13, 7, 4, 2});
}

// One channel everywhere, laterals = identity, outputs = the 3x3 identity
// kernel: then P5 = c5, P4 = c4 + up(c5), ..., and P6 = P5 at even positions.
TEST(Fpn, TopDownSumsNearestUpsampledLevels) {
  Rng rng(2);
  FpnConfig fc;
  fc.channels = 1;
  fc.in_channels = {1, 1, 1, 1};
  FPN fpn(fc, rng);
  for (int i = 0; i < 4; ++i) {
    fpn.lateral[i]->weight->value.fill_(1.0);
    std::vector<float> k(9, 0.0f);
    k[4] = 1.0f;
    fpn.output[i]->weight->value.copy_from(Tensor::from_vector(k, {1, 1, 3, 3}));
  }
  ResNet50::Stages s;
  s.c5 = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  s.c4 = Tensor::from_vector(std::vector<float>(9, 10.0f), {1, 1, 3, 3});
  s.c3 = Tensor::zeros({1, 1, 5, 5});
  s.c2 = Tensor::zeros({1, 1, 9, 9});
  const std::vector<Tensor> p = fpn.forward(s);
  // P4 = 10 + c5 up-sampled 2 -> 3 with floor(y * 2 / 3): rows/cols 0, 0, 1.
  EXPECT_EQ(p[2].to_vector(), (std::vector<double>{11, 11, 12, 11, 11, 12, 13, 13, 14}));
  EXPECT_EQ(p[3].to_vector(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(p[4].to_vector(), (std::vector<double>{1}));  // P6: P5[0, 0]
  // P3 = P4 up-sampled 3 -> 5: source rows floor(y * 3 / 5) = 0, 0, 1, 1, 2.
  const std::vector<double> p3 = p[1].to_vector();
  EXPECT_EQ(p3[0], 11);
  EXPECT_EQ(p3[4], 12);   // (0, 4) <- (0, 2)
  EXPECT_EQ(p3[24], 14);  // (4, 4) <- (2, 2)
  EXPECT_EQ(p[0].shape(), Shape({1, 1, 9, 9}));
}

// ---- RPN ------------------------------------------------------------------------------------

TEST(Rpn, OutputsMatchTheAnchorsLevelByLevel) {
  Rng rng(3);
  RpnConfig rc;
  rc.channels = 4;
  RPNHead rpn(rc, rng);
  std::vector<Tensor> levels;
  const int64_t sides[5] = {16, 8, 4, 2, 1};  // a 64 x 64 input
  for (int64_t s : sides) levels.push_back(randn({2, 4, s, s + 1}, rng));
  const RPNHead::Output o = rpn.forward(levels);
  const std::vector<Tensor> anchors = rpn.anchors(levels, Device::CPU);
  ASSERT_EQ(o.logits.size(), 5u);
  for (int l = 0; l < 5; ++l) {
    const int64_t h = sides[l], w = sides[l] + 1;
    EXPECT_EQ(o.logits[l].shape(), Shape({2, 3, h, w}));
    EXPECT_EQ(o.deltas[l].shape(), Shape({2, 12, h, w}));
    EXPECT_EQ(anchors[l].shape(), Shape({h * w * 3, 4}));
    EXPECT_EQ(rpn_flatten_logits(o.logits[l]).shape(), Shape({2, h * w * 3}));
    EXPECT_EQ(rpn_flatten_deltas(o.deltas[l]).shape(), Shape({2, h * w * 3, 4}));
  }
  // P2's anchor (y, x, a) = (1, 2, 0) is flat row (1 * 17 + 2) * 3 + 0: its
  // square anchor (a = 1, 32 px) is centred on ((2 + 0.5) * 4, (1 + 0.5) * 4).
  const std::vector<double> a = anchors[0].to_vector();
  const int64_t row = (1 * 17 + 2) * 3 + 1;
  EXPECT_DOUBLE_EQ(a[row * 4 + 0], 10 - 16);
  EXPECT_DOUBLE_EQ(a[row * 4 + 1], 6 - 16);
  EXPECT_DOUBLE_EQ(a[row * 4 + 2], 10 + 16);
  EXPECT_DOUBLE_EQ(a[row * 4 + 3], 6 + 16);
}

TEST(Rpn, FlattenPutsAnchorOrderYXA) {
  // logits (1, A=2, 2, 3), deltas (1, 8, 2, 3) with distinct values.
  std::vector<float> lv(12), dv(48);
  for (int i = 0; i < 12; ++i) lv[i] = (float)i;
  for (int i = 0; i < 48; ++i) dv[i] = (float)i;
  const std::vector<double> fl = rpn_flatten_logits(Tensor::from_vector(lv, {1, 2, 2, 3})).to_vector();
  const std::vector<double> fd = rpn_flatten_deltas(Tensor::from_vector(dv, {1, 8, 2, 3})).to_vector();
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x)
      for (int a = 0; a < 2; ++a) {
        const int i = (y * 3 + x) * 2 + a;
        EXPECT_EQ(fl[i], (a * 2 + y) * 3 + x);
        for (int k = 0; k < 4; ++k) EXPECT_EQ(fd[i * 4 + k], ((a * 4 + k) * 2 + y) * 3 + x);
      }
}

// ---- losses ---------------------------------------------------------------------------------

TEST(DetSeg, LossesAreFiniteAndPositiveOnALesion) {
  DetSegNet& net = fresh_net();
  const SynthBatch b = synth_batch(0, 2, 64);
  Rng sample_rng(5);
  const DetSegLosses l = net.loss(b.images, b.targets, sample_rng);
  for (const Tensor* t : {&l.rpn_cls, &l.rpn_reg, &l.cls, &l.reg, &l.mask, &l.total}) {
    ASSERT_EQ(t->numel(), 1);
    EXPECT_TRUE(std::isfinite(t->item()));
    EXPECT_GT(t->item(), 0.0);
  }
  EXPECT_NEAR(l.total.item(), l.rpn_cls.item() + l.rpn_reg.item() + l.cls.item() + l.reg.item() + l.mask.item(),
              1e-5 * l.total.item());
  EXPECT_GT(l.positive_anchors, 0);
  EXPECT_LE(l.sampled_anchors, 2 * 256);
  EXPECT_LE(l.positive_anchors * 4, l.sampled_anchors);  // at most a quarter positive (1:3)
  EXPECT_GT(l.foreground_rois, 0);
  EXPECT_LE(l.rois, 2 * 32);
  l.total.backward();
  for (auto& [name, p] : net.named_parameters()) {
    ASSERT_TRUE(p->value.grad().defined()) << name;
    EXPECT_TRUE(finite(p->value.grad())) << name;
  }
}

// cls_weight (lambda_cls) scales the Classify subnet's term in the total and
// nothing else: on the same batch and samples, a network of the same initial
// values with weight 3 logs the same five terms, its total is 2 cls higher, the
// class-score layer (reached by L_cls alone) gets 3 times the gradient, and the
// box-delta layer (not reached by L_cls) the same one.
TEST(DetSeg, ClsWeightScalesTheClassifyTermAlone) {
  DetSegConfig c = tiny_config();
  c.cls_weight = 3.0;
  Rng init(4);  // fresh_net's seed: the same initial values
  DetSegNet weighted(c, init);
  weighted.train();
  DetSegNet& plain = fresh_net();
  const SynthBatch b = synth_batch(0, 2, 64);
  Rng r1(5), r3(5);
  const DetSegLosses l1 = plain.loss(b.images, b.targets, r1);
  const DetSegLosses l3 = weighted.loss(b.images, b.targets, r3);
  EXPECT_EQ(l3.cls.item(), l1.cls.item());
  EXPECT_EQ(l3.mask.item(), l1.mask.item());
  EXPECT_EQ(l3.rpn_cls.item(), l1.rpn_cls.item());
  ASSERT_GT(l1.cls.item(), 0.0);
  EXPECT_NEAR(l3.total.item(), l1.total.item() + 2 * l1.cls.item(), 1e-5 * l3.total.item());
  l1.total.backward();
  l3.total.backward();
  const std::vector<double> g1 = plain.roi_heads->cls_score->weight->value.grad().to_vector();
  const std::vector<double> g3 = weighted.roi_heads->cls_score->weight->value.grad().to_vector();
  ASSERT_EQ(g1.size(), g3.size());
  double largest = 0;
  for (size_t i = 0; i < g1.size(); ++i) {
    EXPECT_NEAR(g3[i], 3 * g1[i], 1e-5 * std::fabs(3 * g1[i]) + 1e-12) << i;
    largest = std::max(largest, std::fabs(g1[i]));
  }
  EXPECT_GT(largest, 0.0);
  EXPECT_EQ(weighted.roi_heads->bbox_pred->weight->value.grad().to_vector(),
            plain.roi_heads->bbox_pred->weight->value.grad().to_vector());
}

// Each branch chooses its RoIs' pyramid levels with its own canonical size:
// heads of the same initial values with box_canonical 56 pool a 60-pixel RoI
// from P4 (floor(4 + log2(60 / 56))) in the box branch, where the default 224
// pools it from P2, and their mask branch (mask_canonical 224 in both) gives
// the same logits as the default heads'.
TEST(RoiHeads, EachBranchPoolsFromTheLevelOfItsCanonicalSize) {
  RoiHeadsConfig c;
  c.channels = 4;
  c.representation = 16;
  c.mask_channels = 4;
  c.mask_convs = 1;
  RoiHeadsConfig moved = c;
  moved.box_canonical = 56;
  Rng r1(21), r2(21);
  RoiHeads heads(c, r1), heads56(moved, r2);
  Rng rng(22);
  std::vector<Tensor> levels;
  for (int l = 2; l <= 5; ++l) levels.push_back(rand_uniform({1, 4, 128 >> l, 128 >> l}, rng, -1.0, 1.0, DType::F32));
  const Tensor roi = Tensor::from_vector(std::vector<float>{0, 30, 34, 90, 94}, {1, 5});  // 60 x 60
  ASSERT_EQ(fpn_roi_levels(roi), std::vector<int>{2});
  NoGradGuard no_grad;
  RoiAlignParams p;
  p.out_h = p.out_w = c.pooled;
  p.sampling_ratio = c.sampling_ratio;
  p.aligned = true;
  p.spatial_scale = 1.0 / 16;  // P4
  const Tensor x = relu(heads56.fc7->forward(relu(heads56.fc6->forward(flatten(roi_align(levels[2], roi, p))))));
  const RoiHeads::BoxOutput got = heads56.box_forward(levels, roi);
  EXPECT_TENSORS_CLOSE(heads56.cls_score->forward(x), got.class_logits, 1e-6, 1e-5);
  EXPECT_TENSORS_CLOSE(heads56.bbox_pred->forward(x), got.deltas, 1e-6, 1e-5);
  EXPECT_FALSE(heads.box_forward(levels, roi).class_logits.to_vector() == got.class_logits.to_vector());
  EXPECT_EQ(heads56.mask_forward(levels, roi).to_vector(), heads.mask_forward(levels, roi).to_vector());
}

// The RPN's loss reads the sampled anchors alone (take_rows). It must equal
// eqs. 1-3 written densely over every anchor, with the labels and targets of
// assign_anchor_targets and 0 weights for the anchors not sampled, in value
// and in the gradient it sends to the RPN's outputs.
TEST(DetSeg, RpnLossOverTheSampledAnchorsEqualsTheDenseForm) {
  DetSegNet& net = fresh_net();
  const SynthBatch b = synth_batch(2, 2, 64);
  const DetSegConfig& cfg = net.config();
  Rng sample_rng(11);
  const DetSegLosses l = net.loss(b.images, b.targets, sample_rng);

  // The dense form, from the same network outputs and the same draws (the
  // anchor samples come first from the Rng, one image after the other).
  const std::vector<Tensor> P = net.features(b.images);
  const RPNHead::Output r = net.rpn->forward(P);
  std::vector<Tensor> fl, fd;
  for (size_t k = 0; k < P.size(); ++k) {
    fl.push_back(rpn_flatten_logits(r.logits[k]));
    fd.push_back(rpn_flatten_deltas(r.deltas[k]));
  }
  const Tensor logits = concat(fl, 1), deltas = concat(fd, 1);  // (2, A), (2, A, 4)
  const Tensor anchors = concat(net.rpn->anchors(P, Device::CPU), 0);
  const int64_t A = anchors.size(0);
  Rng dense_rng(11);
  std::vector<double> target, weight, box_weight, box_target;
  int64_t sampled = 0;
  for (int64_t i = 0; i < 2; ++i) {
    const std::vector<double> box = slice(b.targets.boxes, 0, i, i + 1).to_vector();
    const Tensor gt = Tensor::from_vector(std::vector<float>(box.begin(), box.end()), {1, 4});
    const AnchorTargets at = assign_anchor_targets(anchors, gt, 64, 64, cfg.anchor_targets, dense_rng);
    const std::vector<double> lab = at.labels.to_vector(), d = at.deltas.to_vector();
    for (int64_t a = 0; a < A; ++a) {
      target.push_back(lab[a] > 0.5 ? 1 : 0);
      weight.push_back(lab[a] > -0.5 ? 1 : 0);
      sampled += lab[a] > -0.5;
      for (int k = 0; k < 4; ++k) box_weight.push_back(lab[a] > 0.5 ? 1 : 0);
    }
    box_target.insert(box_target.end(), d.begin(), d.end());
  }
  ASSERT_EQ(sampled, l.sampled_anchors);
  const double n = (double)sampled;
  const Tensor dense_cls = scale(sigmoid_focal_loss(logits, Tensor::from_vector(target, {2, A}, DType::F32),
                                                    Tensor::from_vector(weight, {2, A}, DType::F32), cfg.focal_alpha,
                                                    cfg.focal_gamma),
                                 1.0 / n);
  const Tensor dense_reg =
      scale(smooth_l1_loss(deltas, Tensor::from_vector(box_target, {2, A, 4}, DType::F32),
                           Tensor::from_vector(box_weight, {2, A, 4}, DType::F32), cfg.smooth_l1_beta),
            cfg.rpn_reg_weight / n);
  EXPECT_NEAR(l.rpn_cls.item(), dense_cls.item(), 1e-6 * dense_cls.item());
  EXPECT_NEAR(l.rpn_reg.item(), dense_reg.item(), 1e-6 * dense_reg.item());
  EXPECT_GT(dense_reg.item(), 0.0);

  // The gradients of the RPN head's parameters, from each form.
  auto rpn_grads = [&](const Tensor& loss) {
    for (Parameter* p : net.parameters()) p->value.impl()->grad.reset();
    loss.backward();
    std::vector<double> g;
    for (Parameter* p : net.rpn->parameters()) {
      const std::vector<double> v = p->value.grad().to_vector();
      g.insert(g.end(), v.begin(), v.end());
    }
    return g;
  };
  const std::vector<double> sparse = rpn_grads(add(l.rpn_cls, l.rpn_reg));
  const std::vector<double> dense = rpn_grads(add(dense_cls, dense_reg));
  ASSERT_EQ(sparse.size(), dense.size());
  double worst = 0, scale_ = 0;
  for (size_t k = 0; k < dense.size(); ++k) {
    worst = std::max(worst, std::abs(sparse[k] - dense[k]));
    scale_ = std::max(scale_, std::abs(dense[k]));
  }
  EXPECT_GT(scale_, 0.0);
  EXPECT_LE(worst, 1e-5 * scale_);
}

// The host anchors are made once per pyramid size and kept: a batch of
// another size must get its own, and coming back must give the same loss.
TEST(DetSeg, TheKeptAnchorsFollowTheImageSize) {
  DetSegNet& net = fresh_net();
  const SynthBatch small = synth_batch(0, 2, 64), large = synth_batch(0, 2, 96);
  auto rpn_loss = [&](const SynthBatch& b) {
    Rng rng(21);
    const DetSegLosses l = net.loss(b.images, b.targets, rng);
    EXPECT_GT(l.positive_anchors, 0);
    return std::vector<double>{l.rpn_cls.item(), l.rpn_reg.item(), l.total.item()};
  };
  const std::vector<double> first = rpn_loss(small);
  const std::vector<double> other = rpn_loss(large);
  EXPECT_NE(other, first);
  EXPECT_EQ(rpn_loss(small), first);
}

// The iteration names its phases for profilers (framework/trace.h): each
// once per image where the loop is per image, in the order they run, none
// left open; and the same loss as without a sink.
TEST(DetSeg, LossMarksItsPhasesInOrder) {
  struct Phases : TraceSink {
    std::vector<std::string> begun;
    int open = 0;
    void begin(const char* name) override {
      begun.push_back(name);
      ++open;
    }
    void end(const char*) override { --open; }
  } sink;
  DetSegNet& net = fresh_net();
  const SynthBatch b = synth_batch(0, 2, 64);
  Rng rng(8), same_rng(8);
  TraceSink* before = set_trace_sink(&sink);
  const double traced = net.loss(b.images, b.targets, rng).total.item();
  set_trace_sink(before);
  EXPECT_EQ(sink.open, 0);
  EXPECT_EQ(sink.begun,
            (std::vector<std::string>{"backbone + FPN", "RPN head", "RPN targets (host)", "RPN losses",
                                      "RPN outputs to the host", "proposals", "RoI samples (host)", "proposals",
                                      "RoI samples (host)", "box head", "box losses", "mask head", "mask targets",
                                      "mask losses"}));
  EXPECT_EQ(net.loss(b.images, b.targets, same_rng).total.item(), traced);
}

TEST(DetSeg, AnEmptyMaskTrainsWithoutNaN) {
  DetSegNet& net = fresh_net();
  const SynthBatch b = synth_batch(0, 2, 64, /*empty=*/true);
  Rng sample_rng(7);
  const DetSegLosses l = net.loss(b.images, b.targets, sample_rng);
  EXPECT_EQ(l.positive_anchors, 0);
  EXPECT_EQ(l.foreground_rois, 0);
  EXPECT_GT(l.sampled_anchors, 0);
  EXPECT_GT(l.rpn_cls.item(), 0.0);
  EXPECT_GT(l.cls.item(), 0.0);
  EXPECT_EQ(l.rpn_reg.item(), 0.0);
  EXPECT_EQ(l.reg.item(), 0.0);
  EXPECT_EQ(l.mask.item(), 0.0);
  EXPECT_TRUE(std::isfinite(l.total.item()));
  l.total.backward();
  // Every parameter gets a finite gradient, the mask head's zero.
  for (auto& [name, p] : net.named_parameters()) {
    ASSERT_TRUE(p->value.grad().defined()) << name;
    EXPECT_TRUE(finite(p->value.grad())) << name;
  }
  for (double g : net.roi_heads->mask_logits->weight->value.grad().to_vector()) EXPECT_EQ(g, 0.0);
}

TEST(DetSeg, OneEmptyAndOneLesionImageInABatch) {
  DetSegNet& net = fresh_net();
  SynthBatch b = synth_batch(0, 2, 64);
  // Clear image 1's lesion.
  std::vector<double> boxes = b.targets.boxes.to_vector(), masks = b.targets.masks.to_vector();
  for (int k = 4; k < 8; ++k) boxes[k] = -1;
  for (size_t k = masks.size() / 2; k < masks.size(); ++k) masks[k] = 0;
  b.targets.boxes = Tensor::from_vector(boxes, {2, 4});
  b.targets.masks = Tensor::from_vector(masks, {2, 1, 64, 64});
  Rng sample_rng(9);
  const DetSegLosses l = net.loss(b.images, b.targets, sample_rng);
  EXPECT_GT(l.foreground_rois, 0);
  EXPECT_TRUE(std::isfinite(l.total.item()));
  EXPECT_GT(l.mask.item(), 0.0);
}

TEST(DetSeg, BadTargetsAreClearErrors) {
  DetSegNet& net = fresh_net();
  const SynthBatch b = synth_batch(0, 1, 64);
  Rng sample_rng(1);
  DetSegTargets t = b.targets;
  t.boxes = Tensor::zeros({2, 4});
  EXPECT_THROW(net.loss(b.images, t, sample_rng), Error);
  t = b.targets;
  t.masks = Tensor::zeros({1, 1, 32, 32});
  EXPECT_THROW(net.loss(b.images, t, sample_rng), Error);
  EXPECT_THROW(net.loss(Tensor::zeros({1, 1, 64, 64}), b.targets, sample_rng), Error);
}

// ---- training phases ------------------------------------------------------------------------

// After one backward in `phase`: which groups have gradients, and which change
// in an SGD step.
void expect_phase(int phase, bool backbone, bool fpn_rpn) {
  DetSegNet& net = fresh_net();
  SGD sgd(net.parameters(), SGDOptions{});  // over every parameter, before the phase freezes some
  set_detseg_phase(net, phase);
  const SynthBatch b = synth_batch(2, 1, 64);
  const Tensor before_backbone = net.backbone->conv1->weight->value.clone();
  const Tensor before_fpn = net.fpn->output[0]->weight->value.clone();
  const Tensor before_rpn = net.rpn->conv->weight->value.clone();
  const Tensor before_heads = net.roi_heads->fc6->weight->value.clone();
  sgd.zero_grad();
  Rng sample_rng(12);
  net.loss(b.images, b.targets, sample_rng).total.backward();
  const struct {
    DetSegGroup group;
    bool trains;
    const char* name;
  } groups[] = {{DetSegGroup::Backbone, backbone, "backbone"},
                {DetSegGroup::Fpn, fpn_rpn, "fpn"},
                {DetSegGroup::Rpn, fpn_rpn, "rpn"},
                {DetSegGroup::Heads, true, "heads"}};
  for (const auto& g : groups)
    for (Parameter* p : detseg_group(net, g.group)) {
      EXPECT_EQ(p->value.requires_grad(), g.trains) << "phase " << phase << ": " << g.name << " " << p->name;
      EXPECT_EQ(p->value.grad().defined(), g.trains) << "phase " << phase << ": " << g.name << " " << p->name;
    }
  sgd.step();
  auto changed = [](const Tensor& before, const Tensor& now) { return before.to_vector() != now.to_vector(); };
  EXPECT_EQ(changed(before_backbone, net.backbone->conv1->weight->value), backbone) << "phase " << phase;
  EXPECT_EQ(changed(before_fpn, net.fpn->output[0]->weight->value), fpn_rpn) << "phase " << phase;
  EXPECT_EQ(changed(before_rpn, net.rpn->conv->weight->value), fpn_rpn) << "phase " << phase;
  EXPECT_TRUE(changed(before_heads, net.roi_heads->fc6->weight->value)) << "phase " << phase;
}

TEST(DetSegPhases, Phase1TrainsOnlyTheHeads) { expect_phase(1, false, false); }
TEST(DetSegPhases, Phase2TrainsFpnRpnAndHeads) { expect_phase(2, false, true); }
TEST(DetSegPhases, Phase3TrainsEverything) { expect_phase(3, true, true); }

TEST(DetSegPhases, GroupsCoverEveryParameterOnce) {
  DetSegNet& net = fresh_net();
  size_t n = 0;
  for (DetSegGroup g : {DetSegGroup::Backbone, DetSegGroup::Fpn, DetSegGroup::Rpn, DetSegGroup::Heads})
    n += detseg_group(net, g).size();
  EXPECT_EQ(n, net.parameters().size());
  EXPECT_EQ(detseg_phase_lr_factor(1), 1.0);
  EXPECT_EQ(detseg_phase_lr_factor(2), 1.0);
  EXPECT_EQ(detseg_phase_lr_factor(3), 0.1);
  EXPECT_THROW(set_detseg_phase(net, 4), Error);
}

// ---- prediction -----------------------------------------------------------------------------

TEST(DetSeg, PredictGivesOneConsistentResultPerImage) {
  DetSegNet& net = fresh_net();
  net.eval();
  const SynthBatch b = synth_batch(0, 2, 64);
  // Threshold 0: every image has a detection, so the mask paste runs.
  net.set_score_thresh(0.0);
  const std::vector<DetSegOutput> out = net.predict(b.images);
  // A threshold above every score (a float softmax can give p_background = 0,
  // so even 1 may be reached): no detection, empty masks, the same class scores.
  net.set_score_thresh(std::nextafter(std::max(out[0].score, out[1].score), 2.0));
  const std::vector<DetSegOutput> none = net.predict(b.images);
  net.set_score_thresh(0.05);
  EXPECT_THROW(net.set_score_thresh(-1), Error);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(out[i].detected);
    EXPECT_FALSE(none[i].detected);
    EXPECT_EQ(none[i].probs, out[i].probs);
    EXPECT_EQ(none[i].malignant, out[i].malignant);
    for (float v : none[i].mask_prob) EXPECT_EQ(v, 0.0f);
    for (uint8_t v : none[i].mask.data) EXPECT_EQ(v, 0);
  }
  ASSERT_EQ(out.size(), 2u);
  for (const DetSegOutput& o : out) {
    EXPECT_NEAR(o.probs[0] + o.probs[1] + o.probs[2], 1.0, 1e-5);
    EXPECT_NEAR(o.score, 1.0 - o.probs[0], 1e-12);
    EXPECT_NEAR(o.malignant, o.probs[2] / (o.probs[1] + o.probs[2]), 1e-12);
    EXPECT_EQ(o.detected, o.score >= net.config().score_thresh);
    EXPECT_GE(o.box[0], 0.0f);
    EXPECT_GE(o.box[1], 0.0f);
    EXPECT_LE(o.box[2], 64.0f);
    EXPECT_LE(o.box[3], 64.0f);
    ASSERT_EQ(o.mask_prob.size(), 64u * 64u);
    ASSERT_EQ(o.mask.height, 64);
    ASSERT_EQ(o.mask.width, 64);
    for (size_t k = 0; k < o.mask_prob.size(); ++k) {
      EXPECT_EQ(o.mask.data[k], o.mask_prob[k] >= 0.5f ? 255 : 0);
      // Nothing outside the box.
      const double x = k % 64 + 0.5, y = k / 64 + 0.5;
      if (x < o.box[0] || x > o.box[2] || y < o.box[1] || y > o.box[3]) {
        EXPECT_EQ(o.mask_prob[k], 0.0f);
      }
    }
  }
}

// A mask head that says "lesion" everywhere (logit 10): the pasted mask is
// exactly the pixels whose centres lie in the detection's box.
TEST(DetSeg, PredictPastesTheMaskIntoItsBox) {
  DetSegNet& net = fresh_net();
  net.eval();
  net.set_score_thresh(0.0);
  net.roi_heads->mask_logits->weight->value.zero_();
  net.roi_heads->mask_logits->bias->value.fill_(10.0);
  const std::vector<DetSegOutput> out = net.predict(synth_batch(0, 1, 64).images);
  net.set_score_thresh(0.05);
  const DetSegOutput& o = out[0];
  ASSERT_TRUE(o.detected);
  ASSERT_GT(o.box[2] - o.box[0], 1.0f);
  ASSERT_GT(o.box[3] - o.box[1], 1.0f);
  int64_t inside = 0;
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x) {
      const bool in = x + 0.5 >= o.box[0] && x + 0.5 <= o.box[2] && y + 0.5 >= o.box[1] && y + 0.5 <= o.box[3];
      inside += in;
      EXPECT_EQ(o.mask.at(y, x, 0), in ? 255 : 0) << y << ", " << x;
      EXPECT_NEAR(o.mask_prob[y * 64 + x], in ? 1.0 / (1.0 + std::exp(-10.0)) : 0.0, 1e-6);
    }
  EXPECT_GT(inside, 0);
}

// Four RoIs by hand: the top one (row 1), one overlapping it by IoU 0.82, one
// by exactly 0.5 (the training's foreground threshold: in) and one by 0.14 (out).
TEST(ImageMalignancy, TopReadsTheTopRoiAndVoteSumsTheRoisAroundIt) {
  // Rows as RoIAlign takes them: batch index (not read), x1, y1, x2, y2.
  const float boxes[] = {0, 12, 12, 52, 52,   // IoU 1444 / 1756 with row 1
                         0, 10, 10, 50, 50,   // the top RoI
                         0, 30, 30, 70, 70,   // IoU 400 / 2800
                         0, 10, 10, 50, 30};  // IoU 800 / 1600 = 0.5 exactly
  const double probs[] = {0.1, 0.3, 0.6,  //
                          0.2, 0.6, 0.2,  //
                          0.0, 0.0, 1.0,  //
                          0.5, 0.1, 0.4};
  EXPECT_DOUBLE_EQ(image_malignancy(probs, boxes, 4, 1, ImageScore::Top, 0.5), 0.2 / 0.8);
  EXPECT_DOUBLE_EQ(image_malignancy(probs, boxes, 4, 1, ImageScore::Vote, 0.5),
                   (0.6 + 0.2 + 0.4) / (0.9 + 0.8 + 0.5));
  // A stricter overlap keeps row 0 (0.82) and drops row 3 (0.5).
  EXPECT_DOUBLE_EQ(image_malignancy(probs, boxes, 4, 1, ImageScore::Vote, 0.6), (0.6 + 0.2) / (0.9 + 0.8));
  // Row 2 alone: it overlaps nothing by 0.5, so its vote is its own ratio.
  EXPECT_DOUBLE_EQ(image_malignancy(probs, boxes, 4, 2, ImageScore::Vote, 0.5), 1.0);
  // No foreground mass: undecided.
  const double background[] = {1, 0, 0};
  EXPECT_EQ(image_malignancy(background, boxes, 1, 0, ImageScore::Top, 0.5), 0.5);
  EXPECT_EQ(image_malignancy(background, boxes, 1, 0, ImageScore::Vote, 0.5), 0.5);
  EXPECT_THROW(image_malignancy(probs, boxes, 4, 4, ImageScore::Top, 0.5), Error);
  EXPECT_EQ(image_score_from_name("top"), ImageScore::Top);
  EXPECT_EQ(image_score_from_name("vote"), ImageScore::Vote);
  EXPECT_STREQ(image_score_name(ImageScore::Vote), "vote");
  EXPECT_STREQ(image_score_name(ImageScore::Top), "top");
  try {
    image_score_from_name("mean");
    ADD_FAILURE() << "no error for 'mean'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'mean'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("vote"), std::string::npos) << e.what();
  }
}

// The vote changes the malignancy and nothing else: box, scores, class
// probabilities of the top RoI and the mask are the same.
TEST(DetSeg, PredictWithTheVoteChangesOnlyTheMalignancy) {
  DetSegNet& net = fresh_net();
  net.eval();
  net.set_score_thresh(0.0);
  const SynthBatch b = synth_batch(0, 2, 64);
  const std::vector<DetSegOutput> top = net.predict(b.images);
  net.set_image_score(ImageScore::Vote);
  const std::vector<DetSegOutput> vote = net.predict(b.images);
  net.set_image_score(ImageScore::Top);
  net.set_score_thresh(0.05);
  ASSERT_EQ(vote.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(vote[i].box, top[i].box);
    EXPECT_EQ(vote[i].probs, top[i].probs);
    EXPECT_EQ(vote[i].score, top[i].score);
    EXPECT_EQ(vote[i].mask_prob, top[i].mask_prob);
    EXPECT_GE(vote[i].malignant, 0.0);
    EXPECT_LE(vote[i].malignant, 1.0);
    // Hundreds of proposals, many around the top one: the vote is not that one RoI's ratio.
    EXPECT_NE(vote[i].malignant, top[i].malignant) << i;
  }
}

// ---- CUDA -----------------------------------------------------------------------------------

// The same network and batch on both devices: the RPN terms (their anchor
// samples depend on the boxes alone) agree closely; the heads' terms use
// proposals picked by top-k and NMS on slightly different logits, so they are
// only required to be finite and of the same size. Gradients finite, and a
// prediction of the right form.
TEST(DetSegCuda, LossesAndPredictionMatchTheCpu) {
  REQUIRE_CUDA();
  DetSegNet& net = fresh_net();
  const SynthBatch b = synth_batch(0, 2, 64);
  Rng r1(21);
  const DetSegLosses cpu = net.loss(b.images, b.targets, r1);
  net.to(Device::CUDA);
  DetSegTargets t = b.targets;
  t.masks = t.masks.to(Device::CUDA);
  Rng r2(21);
  const DetSegLosses gpu = net.loss(b.images.to(Device::CUDA), t, r2);
  gpu.total.backward();
  EXPECT_EQ(cpu.sampled_anchors, gpu.sampled_anchors);
  EXPECT_EQ(cpu.positive_anchors, gpu.positive_anchors);
  auto item = [](const Tensor& x) { return x.to(Device::CPU).item(); };
  EXPECT_NEAR(item(gpu.rpn_cls), item(cpu.rpn_cls), 1e-4 * item(cpu.rpn_cls));
  EXPECT_NEAR(item(gpu.rpn_reg), item(cpu.rpn_reg), 1e-4 * item(cpu.rpn_reg) + 1e-6);
  for (const Tensor* x : {&gpu.cls, &gpu.reg, &gpu.mask, &gpu.total}) EXPECT_TRUE(std::isfinite(item(*x)));
  EXPECT_NEAR(item(gpu.total), item(cpu.total), 0.2 * item(cpu.total));
  for (auto& [name, p] : net.named_parameters()) {
    ASSERT_TRUE(p->value.grad().defined()) << name;
    EXPECT_TRUE(finite(p->value.grad())) << name;
  }
  net.eval();
  const std::vector<DetSegOutput> out = net.predict(b.images.to(Device::CUDA));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[0].probs[0] + out[0].probs[1] + out[0].probs[2], 1.0, 1e-5);
  EXPECT_EQ(out[0].mask_prob.size(), 64u * 64u);
  net.to(Device::CPU);
}

// ---- training -------------------------------------------------------------------------------

// Two synthetic images at 96 px, random weights, batch statistics in the
// backbone: phase 2 (FPN, RPN and heads; the backbone forward runs without a
// tape), lr 0.01 with the gradient clipped to norm 5 (as train detseg does),
// must bring the total loss down clearly in a few dozen steps (about 58 -> 7).
TEST(DetSegTraining, OverfitsTwoImages) {
  DetSegNet& net = fresh_net();
  SGDOptions so;
  so.lr = 0.01;
  SGD sgd(net.parameters(), so);
  set_detseg_phase(net, 2);
  const SynthBatch b = synth_batch(0, 2, 96);
  double first = 0, last = 0;
  const int steps = 30;
  for (int it = 0; it < steps; ++it) {
    sgd.zero_grad();
    Rng sample_rng(100 + it);
    const DetSegLosses l = net.loss(b.images, b.targets, sample_rng);
    l.total.backward();
    clip_grad_norm(sgd.params(), 5.0);
    sgd.step();
    const double v = l.total.item();
    ASSERT_TRUE(std::isfinite(v)) << "iteration " << it;
    if (it < 3) first += v / 3;
    if (it >= steps - 3) last += v / 3;
  }
  EXPECT_LT(last, 0.4 * first) << "first " << first << ", last " << last;
}

}  // namespace
}  // namespace skinmtl
