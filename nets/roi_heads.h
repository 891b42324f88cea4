// nets/roi_heads.h: the three convolution subnets of Song et al. (2019,
// section II-B-3) that work on each region of interest: Classify, Detect and
// Segment. They are Mask R-CNN's heads (He et al., "Mask R-CNN", ICCV 2017)
// on a feature pyramid (Lin et al. 2017, section 4.2), and where Song et al.
// are silent this file follows He et al. and their FPN configuration.
//
// Box branch (Classify + Detect share the pooled features and the two FCs):
//
//   RoI (b, x1, y1, x2, y2) -> RoIAlign 7x7 on its pyramid level   (R, C, 7, 7)
//   flatten -> FC 1024, ReLU -> FC 1024, ReLU                        (R, 1024)
//   Classify: FC -> K logits, softmax over {background, benign, malignant}   (R, 3)
//   Detect:   FC -> 4 box deltas (dx, dy, dw, dh) from the RoI               (R, 4)
//
//  - Song et al. classify benign vs malignant with a softmax; as in every
//    Faster/Mask R-CNN, a background class is added (class 0), because most
//    sampled RoIs are not the lesion. The image's malignancy is read from the
//    top detection as p_mal / (p_ben + p_mal) (nets/detseg.h).
//  - The box deltas are class-agnostic (one set, not one per class): there is
//    one lesion per image and the two classes share its box.
//
// Mask branch (Segment):
//
//   RoI -> RoIAlign 14x14                                              (R, C, 14, 14)
//   4 x (3x3 conv 256, ReLU)                                           (R, 256, 14, 14)
//   2x up-sample: nearest 2x, 3x3 conv 256, ReLU                       (R, 256, 28, 28)
//   1x1 conv -> 1 mask logit per pixel (sigmoid)                       (R, 1, 28, 28)
//
//  - He et al. up-sample with a 2x2 stride-2 transposed convolution; skinmtl
//    has no transposed convolution, so nearest-neighbour up-sampling followed
//    by a 3x3 convolution stands in for it (the same output size and a
//    learned up-sampling filter; it sees a 3x3 neighbourhood instead of one
//    input pixel).
//  - One class-agnostic mask (He et al. report class-agnostic masks as nearly
//    as good; here the object is always "the lesion").
//
// Initialisation (Detectron / torchvision): FC 1024 layers XavierFill (U(-a,
// a), a = sqrt(3 / fan_in)); class scores N(0, 0.01^2); box deltas N(0,
// 0.001^2); mask convolutions He normal fan-out (torchvision's MaskRCNNHeads,
// which is skinmtl's Conv2d default); the mask logits N(0, 0.001^2)
// (Detectron's mask_fcn_logits; torchvision's He fan-out would give a 1-output
// 1x1 conv weights of std sqrt(2), logits far from 0 and, with eq. 5's large
// Jaccard term, a first step that blows up); all biases 0.
//
// RoIs are rows (b, x1, y1, x2, y2) in input pixels, b the image's index in
// the batch (framework/ops.h's roi_align). Each RoI is pooled from pyramid
// level k = floor(4 + log2(sqrt(w h) / s0)) clamped to P2 .. P5 (Lin et al.
// eq. 1; roi_align_fpn); P6 only feeds the RPN. s0, the RoI side pooled from
// P4, is Lin et al.'s 224 (ImageNet's canonical size) unless set: each branch
// has its own (box_canonical, mask_canonical). The level of a lesion depends
// on its size in pixels, so an input downscaled by f moves every RoI about
// log2(f) levels down unless s0 is scaled by f too: at 256 instead of Song et
// al.'s 1024, s0 = 56 pools each lesion from the level it had in the paper.
#pragma once

#include <memory>
#include <vector>

#include "framework/module.h"

namespace skinmtl {

struct RoiHeadsConfig {
  int channels = 256;         // C, the pyramid's width
  int pooled = 7;             // box branch RoIAlign output (Song et al.: 7x7)
  int representation = 1024;  // width of the two FC layers
  int num_classes = 3;        // background, benign, malignant
  int mask_pooled = 14;       // mask branch RoIAlign output; the mask is twice that
  int mask_channels = 256;    // width of the mask convolutions
  int mask_convs = 4;         // Song et al. / He et al.: four
  int sampling_ratio = 2;     // RoIAlign sampling points per bin side
  double box_canonical = 224;   // s0 of the box branch (Classify, Detect): pooled from P4
  double mask_canonical = 224;  // s0 of the mask branch (Segment)
  int mask_size() const { return 2 * mask_pooled; }
};

class RoiHeads : public Module {
 public:
  RoiHeads(const RoiHeadsConfig& cfg, Rng& rng);

  struct BoxOutput {
    Tensor class_logits;  // (R, num_classes)
    Tensor deltas;        // (R, 4), relative to the RoI (nets/boxes.h's BoxCoder, roi_box_coder())
  };
  // levels: P2 .. P5 (more are ignored); rois (R, 5) on the levels' device.
  BoxOutput box_forward(const std::vector<Tensor>& levels, const Tensor& rois);
  // Mask logits (R, 1, 2 mask_pooled, 2 mask_pooled) of the RoIs, each over its box.
  Tensor mask_forward(const std::vector<Tensor>& levels, const Tensor& rois);

  // Parameters: "fc6.*", "fc7.*", "cls_score.*", "bbox_pred.*",
  // "mask.0.*" .. "mask.3.*", "mask_up.*", "mask_logits.*".
  std::shared_ptr<Linear> fc6, fc7, cls_score, bbox_pred;
  std::vector<std::shared_ptr<Conv2d>> mask_convs;
  std::shared_ptr<Conv2d> mask_up, mask_logits;
  const RoiHeadsConfig& config() const { return cfg_; }

 private:
  // RoIAlign of `rois` on the pyramid, out x out bins, levels chosen with s0 = canonical.
  Tensor pool(const std::vector<Tensor>& levels, const Tensor& rois, int out, double canonical) const;
  RoiHeadsConfig cfg_;
};

}  // namespace skinmtl
