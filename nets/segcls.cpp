#include "nets/segcls.h"

namespace skinmtl {

const char* segcls_tasks_name(SegClsTasks t) {
  switch (t) {
    case SegClsTasks::Both: return "both";
    case SegClsTasks::Seg: return "seg";
    case SegClsTasks::Cls: return "cls";
  }
  return "?";
}

SegClsTasks parse_segcls_tasks(const std::string& name) {
  if (name == "both") return SegClsTasks::Both;
  if (name == "seg") return SegClsTasks::Seg;
  if (name == "cls") return SegClsTasks::Cls;
  SKINMTL_FAIL("tasks must be both, seg or cls, got '" << name << "'");
}

// ---- decoder -----------------------------------------------------------------------------------

DecoderBlock::DecoderBlock(int coarse_channels, int skip_channels, int out_channels, Rng& rng) {
  const Conv2dParams same = Conv2dParams::make(1, 1);  // 3x3, stride 1, pad 1: the size is kept
  conv1 = register_module("conv1", std::make_shared<Conv2d>(coarse_channels + skip_channels, out_channels, 3,
                                                            same, /*bias=*/false, rng));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(out_channels));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out_channels, out_channels, 3, same, false, rng));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out_channels));
}

Tensor DecoderBlock::forward(const Tensor& coarse, const Tensor& skip) {
  SKINMTL_CHECK(coarse.ndim() == 4 && skip.ndim() == 4 && coarse.size(0) == skip.size(0),
                "DecoderBlock: coarse and skip must be (N, C, H, W) of one batch, got " << coarse.str() << " and "
                                                                                        << skip.str());
  const Tensor up = upsample_nearest(coarse, skip.size(2), skip.size(3));
  Tensor y = concat({up, skip}, 1);
  y = conv_bn(*conv1, *bn1, y, /*relu=*/true);  // folded in inference (framework/module.h)
  return conv_bn(*conv2, *bn2, y, /*relu=*/true);
}

UNetDecoder::UNetDecoder(const std::vector<int>& w, Rng& rng) {
  SKINMTL_CHECK(w.size() == 4 && w[0] > 0 && w[1] > 0 && w[2] > 0 && w[3] > 0,
                "UNetDecoder: four positive widths (blocks 4, 3, 2, 1) are needed");
  // Skip channels of ResNet-50: c4 1024, c3 512, c2 256, c1 64.
  block4 = register_module("block4", std::make_shared<DecoderBlock>(2048, 1024, w[0], rng));
  block3 = register_module("block3", std::make_shared<DecoderBlock>(w[0], 512, w[1], rng));
  block2 = register_module("block2", std::make_shared<DecoderBlock>(w[1], 256, w[2], rng));
  block1 = register_module("block1", std::make_shared<DecoderBlock>(w[2], 64, w[3], rng));
}

Tensor UNetDecoder::forward(const ResNet50::Stages& s) {
  Tensor y = block4->forward(s.c5, s.c4);
  y = block3->forward(y, s.c3);
  y = block2->forward(y, s.c2);
  return block1->forward(y, s.c1);
}

// ---- the model ---------------------------------------------------------------------------------

namespace {

// Caffe-style multipliers of a new layer's parameters (see the header).
void set_new_weight(Parameter* p, const SegClsConfig& cfg) { p->lr_mult = cfg.new_weight_lr_mult; }
void set_new_bias(Parameter* p, const SegClsConfig& cfg) {
  p->lr_mult = cfg.new_bias_lr_mult;
  p->decay_mult = 0;
}
void set_new_bn(BatchNorm2d& bn, const SegClsConfig& cfg) {
  bn.gamma->lr_mult = cfg.new_weight_lr_mult;
  bn.gamma->decay_mult = 0;
  set_new_bias(bn.beta, cfg);
}

std::shared_ptr<Linear> make_binary_head(const SegClsConfig& cfg, Rng& rng) {
  auto head = std::make_shared<Linear>(2048, 1, true, rng);
  head->weight->lr_mult = cfg.head_weight_lr_mult;
  head->bias->lr_mult = cfg.head_bias_lr_mult;
  head->bias->decay_mult = 0;
  return head;
}

}  // namespace

SegClsNet::SegClsNet(const SegClsConfig& cfg, Rng& rng) : cfg_(cfg) {
  cfg_.trunk.classes = 0;
  trunk = register_module("trunk", std::make_shared<ResNet50>(cfg_.trunk, rng));
  if (cfg.tasks != SegClsTasks::Cls) {
    decoder = register_module("decoder", std::make_shared<UNetDecoder>(cfg.decoder_widths, rng));
    for (DecoderBlock* b : {decoder->block4.get(), decoder->block3.get(), decoder->block2.get(),
                            decoder->block1.get()}) {
      set_new_weight(b->conv1->weight, cfg);
      set_new_weight(b->conv2->weight, cfg);
      set_new_bn(*b->bn1, cfg);
      set_new_bn(*b->bn2, cfg);
    }
    mask_head = register_module("mask_head", std::make_shared<Conv2d>(cfg.decoder_widths[3], 1, 1,
                                                                      Conv2dParams::make(1, 0), true, rng));
    set_new_weight(mask_head->weight, cfg);
    set_new_bias(mask_head->bias, cfg);
  }
  if (cfg.tasks != SegClsTasks::Seg) {
    melanoma_head = register_module("melanoma_head", make_binary_head(cfg, rng));
    sk_head = register_module("sk_head", make_binary_head(cfg, rng));
  }
}

SegClsNet::Output SegClsNet::forward(const Tensor& x) {
  SKINMTL_CHECK(x.ndim() == 4 && x.size(1) == 3, "SegClsNet: input must be (N, 3, H, W), got " << x.str());
  const int64_t N = x.size(0);
  const ResNet50::Stages s = trunk->stages(x);
  Output out;
  if (decoder) {
    // 1x1 conv at H/2, then nearest upsampling to H x W: see the header for why
    // this equals upsampling first.
    const Tensor half = mask_head->forward(decoder->forward(s));
    out.mask_logits = upsample_nearest(half, x.size(2), x.size(3));
  }
  if (melanoma_head) {
    const Tensor pool5 = global_avg_pool2d(s.c5);  // (N, 2048)
    out.melanoma_logit = reshape(melanoma_head->forward(pool5), {N});
    out.sk_logit = reshape(sk_head->forward(pool5), {N});
  }
  return out;
}

SegClsNet::Losses SegClsNet::loss(const Output& out, const Tensor& masks, const Tensor& melanoma,
                                  const Tensor& sk, const SegClsLossWeights& w) const {
  Losses l;
  std::vector<Tensor> terms;
  auto weighted = [&](const Tensor& t, double weight) {
    if (weight != 0) terms.push_back(weight == 1 ? t : scale(t, weight));
  };
  if (decoder) {
    SKINMTL_CHECK(out.mask_logits.defined(), "SegClsNet::loss: the output has no mask logits");
    SKINMTL_CHECK(masks.defined() && masks.shape() == out.mask_logits.shape(),
                  "SegClsNet::loss: masks must be " << out.mask_logits.str() << ", got "
                                                    << (masks.defined() ? masks.str() : std::string("nothing")));
    const int64_t N = masks.size(0), HW = masks.size(2) * masks.size(3);
    // One row per pixel, one "class": sigmoid_cross_entropy sums over the one
    // class and averages over the rows, which is the per-pixel mean.
    l.seg = sigmoid_cross_entropy(reshape(out.mask_logits, {N * HW, 1}), reshape(masks, {N * HW, 1}));
    weighted(l.seg, w.seg);
    if (w.jaccard != 0) {
      // One row per image: the soft Jaccard of each image's mask, then the mean.
      l.jaccard = soft_jaccard_distance(reshape(sigmoid(out.mask_logits), {N, HW}), reshape(masks, {N, HW}),
                                        w.jaccard_smooth);
      weighted(l.jaccard, w.jaccard);
    }
  }
  if (melanoma_head) {
    SKINMTL_CHECK(out.melanoma_logit.defined() && out.sk_logit.defined(),
                  "SegClsNet::loss: the output has no classification logits");
    const int64_t N = out.melanoma_logit.size(0);
    SKINMTL_CHECK(melanoma.defined() && sk.defined() && melanoma.numel() == N && sk.numel() == N,
                  "SegClsNet::loss: melanoma and seborrheic keratosis targets must be (" << N << ")");
    l.melanoma = sigmoid_cross_entropy(reshape(out.melanoma_logit, {N, 1}), reshape(melanoma, {N, 1}));
    l.sk = sigmoid_cross_entropy(reshape(out.sk_logit, {N, 1}), reshape(sk, {N, 1}));
    weighted(l.melanoma, w.melanoma);
    weighted(l.sk, w.sk);
  }
  SKINMTL_CHECK(!terms.empty(), "SegClsNet::loss: every loss weight of this model's tasks is zero");
  l.total = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) l.total = add(l.total, terms[i]);
  return l;
}

}  // namespace skinmtl
