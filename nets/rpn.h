// nets/rpn.h: the region proposal network (Ren et al., "Faster R-CNN", NIPS
// 2015) on a feature pyramid (Lin et al. 2017, section 4.1), with Song et
// al.'s focal-loss objectness (2019, eq. 2).
//
// One head, shared by every pyramid level (P2 .. P6, nets/fpn.h):
//
//   level (N, C, h, w) -> 3x3 conv C -> C, ReLU -> 1x1 conv C -> A       objectness logits (N, A, h, w)
//                                                -> 1x1 conv C -> 4A      box deltas (N, 4A, h, w)
//
// A = the number of anchor shapes per cell. Each level has one anchor size
// (Lin et al.: areas 32^2, 64^2, 128^2, 256^2, 512^2 on P2 .. P6) and three
// aspect ratios (0.5, 1, 2), so A = 3. Objectness is ONE logit per anchor (a
// sigmoid, as the focal loss of eq. 2 is written), not Faster R-CNN's two-way
// softmax; the deltas of anchor a are channels 4a .. 4a+3 (dx, dy, dw, dh;
// nets/boxes.h's BoxCoder).
//
// Flat order. Anchors of a level are listed by (y, x, ratio), the order of
// nets/boxes.h's make_anchors; rpn_flatten_logits / rpn_flatten_deltas bring
// the head's outputs into that order, (N, h*w*A) and (N, h*w*A, 4), so anchor
// i of a level, its logit i and its deltas row i belong together.
//
// Initialisation: every conv N(0, 0.01^2), bias 0 (Ren et al.; torchvision's
// RPNHead). The RetinaNet prior on the objectness bias (Lin et al. 2017b) is not
// used: the RPN trains on sampled anchors, a quarter of them positive, not on
// every anchor of the image.
#pragma once

#include <memory>
#include <vector>

#include "framework/module.h"

namespace skinmtl {

struct RpnConfig {
  int channels = 256;  // C, the pyramid's width
  // One anchor size (the side of its square version, pixels) per level P2 .. P6.
  std::vector<double> anchor_sizes = {32, 64, 128, 256, 512};
  std::vector<double> anchor_ratios = {0.5, 1.0, 2.0};  // height / width
  int anchors_per_cell() const { return (int)anchor_ratios.size(); }
};

class RPNHead : public Module {
 public:
  RPNHead(const RpnConfig& cfg, Rng& rng);

  struct Output {
    std::vector<Tensor> logits;  // per level (N, A, h, w)
    std::vector<Tensor> deltas;  // per level (N, 4A, h, w)
  };
  // The head on every level; levels[l] is P_{l+2}.
  Output forward(const std::vector<Tensor>& levels);

  // The anchors of each level, (h*w*A, 4) x1,y1,x2,y2 in input pixels, on
  // `device`, for levels of the given sizes (P2's stride is 4, each next level
  // doubles it).
  std::vector<Tensor> anchors(const std::vector<Tensor>& levels, Device device) const;

  std::shared_ptr<Conv2d> conv;       // "conv.*": 3x3, C -> C
  std::shared_ptr<Conv2d> cls_logits; // "cls_logits.*": 1x1, C -> A
  std::shared_ptr<Conv2d> bbox_pred;  // "bbox_pred.*": 1x1, C -> 4A
  const RpnConfig& config() const { return cfg_; }

 private:
  RpnConfig cfg_;
};

// (N, A, h, w) -> (N, h*w*A): logits in anchor order (y, x, a).
Tensor rpn_flatten_logits(const Tensor& logits);
// (N, 4A, h, w) -> (N, h*w*A, 4): deltas in anchor order (y, x, a).
Tensor rpn_flatten_deltas(const Tensor& deltas);

}  // namespace skinmtl
