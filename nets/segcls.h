// nets/segcls.h: the multi-task lesion segmentation + two binary
// classifications model of Yang et al., "A Novel Multi-task Deep Learning
// Model for Skin Lesion Segmentation and Classification" (arXiv:1703.01025,
// 2017; ISIC 2017 Parts 1 and 3).
//
// One shared encoder, a segmentation decoder and two independent binary
// classifiers:
//
//   image (N, 3, H, W)
//   ResNet-50 trunk (ImageNet-pretrained, no fc), nets/resnet50.h stages():
//     c1 (N, 64, H/2)  c2 (N, 256, H/4)  c3 (N, 512, H/8)  c4 (N, 1024, H/16)  c5 (N, 2048, H/32)
//   segmentation decoder, U-Net style (Ronneberger et al. 2015), four blocks:
//     block4: up(c5 -> size of c4), concat c4, conv3x3-BN-ReLU x2, 256 ch   (N, 256, H/16)
//     block3: up(.. -> size of c3), concat c3, conv3x3-BN-ReLU x2, 128 ch   (N, 128, H/8)
//     block2: up(.. -> size of c2), concat c2, conv3x3-BN-ReLU x2,  64 ch   (N,  64, H/4)
//     block1: up(.. -> size of c1), concat c1, conv3x3-BN-ReLU x2,  32 ch   (N,  32, H/2)
//     mask_head: 1x1 conv 32 -> 1, then up(.. -> H x W)                     (N, 1, H, W) logits
//   classification heads on pool5 (global average of c5, (N, 2048)):
//     melanoma_head: Linear 2048 -> 1        melanoma vs the rest            (N) logit
//     sk_head:       Linear 2048 -> 1        seborrheic keratosis vs the rest (N) logit
//
// "up" is nearest-neighbour upsampling to the exact size of the skip
// connection (framework/ops.h upsample_nearest), so any input size works:
// ResNet's stride-2 steps round sizes up, and an odd size at one level is
// matched exactly at the next. The last step (H/2 -> H) comes after the 1x1
// conv rather than before it: a 1x1 conv acts on each pixel alone, and nearest
// upsampling only copies pixels, so the two commute exactly, and this order
// convolves a quarter of the pixels.
//
// Decoder batch norms always use batch statistics in training (they are new
// layers with no pretrained statistics to freeze), whatever the trunk's BN
// mode; in eval() they use their running statistics, like every BN. The
// decoder's convs have no bias (the BN's beta is one). Decoder widths are an
// option (SegClsConfig::decoder_widths).
//
// Losses (SegClsLossWeights; every weight an option):
//   segmentation: sigmoid cross-entropy of every mask pixel, averaged over
//     all N*H*W pixels (per-pixel binary cross-entropy);
//   optional Jaccard term: soft_jaccard_distance(sigmoid(mask logits), mask),
//     computed per image over its H*W pixels, averaged over images (its scale
//     is `smooth` * (1 - soft Jaccard), so its weight is usually small);
//   melanoma, seborrheic keratosis: the sigmoid cross-entropy of each logit,
//     averaged over the N images;
//   total = w_seg * seg + w_jaccard * jaccard + w_mel * mel + w_sk * sk,
//     terms of absent heads or zero weight left out.
//
// The new layers (decoder, mask head, the two classifiers) train faster than
// the pretrained trunk, as Liao & Luo's heads do (nets/mtl_classifier.h):
// lr_mult 10 on weights (conv, linear, BN gamma) and 20 on biases (linear
// bias, BN beta); decay_mult 0 on biases and on BN's gamma and beta (the usual
// convention; neither paper says). Both multipliers are options, and the two
// classifiers have their own pair (SegClsConfig::head_*_lr_mult).
//
// Single-task variants come from the same code: Tasks::Seg has no
// classification heads (and no classification outputs), Tasks::Cls no decoder
// (and no mask output). Both keep the same trunk, so the three variants
// compare like for like.
//
// Parameter names (the checkpoint keys): "trunk.*" (torchvision names, as in
// nets/resnet50.h), "decoder.block4.conv1.weight", "decoder.block4.bn1.weight",
// ..., "decoder.block1.bn2.running_var", "mask_head.weight", "mask_head.bias",
// "melanoma_head.weight", "melanoma_head.bias", "sk_head.weight", "sk_head.bias".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nets/resnet50.h"

namespace skinmtl {

enum class SegClsTasks { Both, Seg, Cls };
const char* segcls_tasks_name(SegClsTasks t);             // "both" / "seg" / "cls"
SegClsTasks parse_segcls_tasks(const std::string& name);  // throws on anything else

struct SegClsConfig {
  SegClsTasks tasks = SegClsTasks::Both;
  ResNetConfig trunk;  // classes is forced to 0 (no ImageNet fc)
  // Output channels of decoder blocks 4, 3, 2, 1 (at /16, /8, /4, /2).
  std::vector<int> decoder_widths = {256, 128, 64, 32};
  // lr multipliers of the new layers (decoder, heads). `train segcls` uses 1 / 2:
  // at 10 / 20 (the MTL heads' setting) both classifiers diverged on ISIC 2017
  // within 50 iterations of batch 8.
  float new_weight_lr_mult = 1, new_bias_lr_mult = 2;
  // The two classifiers' own multipliers. They sit on pool5 features whose
  // squared norm is in the thousands, so a step that suits the decoder's convs
  // moves their logits by hundreds; the reproduce recipe trains them slower.
  float head_weight_lr_mult = 1, head_bias_lr_mult = 2;
};

// One U-Net decoder step: upsample the coarser map to the skip's size,
// concatenate [coarse, skip] along channels, then twice conv3x3 (pad 1, no
// bias) - BN - ReLU.
class DecoderBlock : public Module {
 public:
  DecoderBlock(int coarse_channels, int skip_channels, int out_channels, Rng& rng);
  // coarse (N, Cc, h, w), skip (N, Cs, H', W') -> (N, out, H', W')
  Tensor forward(const Tensor& coarse, const Tensor& skip);
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
};

// The four decoder blocks and the 1x1 mask head's input: from the trunk's
// stages to (N, decoder_widths[3], H/2, W/2).
class UNetDecoder : public Module {
 public:
  UNetDecoder(const std::vector<int>& widths, Rng& rng);
  Tensor forward(const ResNet50::Stages& s);
  std::shared_ptr<DecoderBlock> block4, block3, block2, block1;
};

struct SegClsLossWeights {
  double seg = 1.0;       // pixel-wise sigmoid cross-entropy
  double jaccard = 0.0;   // soft Jaccard distance (0: left out)
  double melanoma = 1.0;  // melanoma vs the rest
  double sk = 1.0;        // seborrheic keratosis vs the rest
  double jaccard_smooth = 100.0;  // soft_jaccard_distance's smoothing term
};

class SegClsNet : public Module {
 public:
  SegClsNet(const SegClsConfig& cfg, Rng& rng);

  struct Output {
    Tensor mask_logits;     // (N, 1, H, W); undefined without the decoder (Tasks::Cls)
    Tensor melanoma_logit;  // (N); undefined without the heads (Tasks::Seg)
    Tensor sk_logit;        // (N); undefined without the heads
  };
  // x (N, 3, H, W), normalised as the trunk's weights expect.
  Output forward(const Tensor& x);

  struct Losses {
    Tensor total;     // shape (): the weighted sum of the terms present
    Tensor seg;       // shape (): per-pixel BCE; undefined without the decoder
    Tensor jaccard;   // shape (): undefined without the decoder or with weight 0
    Tensor melanoma;  // shape (): undefined without the heads
    Tensor sk;        // shape (): undefined without the heads
  };
  // masks (N, 1, H, W) of 0/1 (ignored without the decoder), melanoma and sk
  // (N) of 0/1 (ignored without the heads); on the outputs' device.
  Losses loss(const Output& out, const Tensor& masks, const Tensor& melanoma, const Tensor& sk,
              const SegClsLossWeights& w = {}) const;

  bool has_seg() const { return decoder != nullptr; }
  bool has_cls() const { return melanoma_head != nullptr; }
  const SegClsConfig& config() const { return cfg_; }
  // The trunk's BN mode (frozen: running statistics; see ResNet50); the
  // decoder's BNs are never frozen.
  void set_trunk_bn_frozen(bool frozen) { trunk->set_bn_frozen(frozen); }

  std::shared_ptr<ResNet50> trunk;            // "trunk.*"
  std::shared_ptr<UNetDecoder> decoder;       // "decoder.*", null for Tasks::Cls
  std::shared_ptr<Conv2d> mask_head;          // "mask_head.*", null for Tasks::Cls
  std::shared_ptr<Linear> melanoma_head;      // "melanoma_head.*", null for Tasks::Seg
  std::shared_ptr<Linear> sk_head;            // "sk_head.*", null for Tasks::Seg

 private:
  SegClsConfig cfg_;
};

}  // namespace skinmtl
