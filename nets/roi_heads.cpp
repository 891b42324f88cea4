#include "nets/roi_heads.h"

#include <string>

#include "nets/fpn.h"

namespace skinmtl {

RoiHeads::RoiHeads(const RoiHeadsConfig& cfg, Rng& rng) : cfg_(cfg) {
  SKINMTL_CHECK(cfg.channels > 0 && cfg.pooled > 0 && cfg.representation > 0 && cfg.num_classes > 1 &&
                    cfg.mask_pooled > 0 && cfg.mask_channels > 0 && cfg.mask_convs > 0 && cfg.sampling_ratio >= 0,
                "RoiHeads: every size must be positive and num_classes at least 2");
  const int C = cfg.channels, F = cfg.representation, M = cfg.mask_channels;
  fc6 = register_module("fc6", std::make_shared<Linear>(C * cfg.pooled * cfg.pooled, F, true, rng));
  fc7 = register_module("fc7", std::make_shared<Linear>(F, F, true, rng));
  cls_score = register_module("cls_score", std::make_shared<Linear>(F, cfg.num_classes, true, rng));
  bbox_pred = register_module("bbox_pred", std::make_shared<Linear>(F, 4, true, rng));
  xavier_fill(*fc6, rng);
  xavier_fill(*fc7, rng);
  normal_fill(*cls_score, 0.01, rng);
  normal_fill(*bbox_pred, 0.001, rng);
  // Mask convolutions keep Conv2d's He normal (fan-out) weights and zero biases;
  // the mask logits start near 0 (see the header).
  for (int i = 0; i < cfg.mask_convs; ++i)
    mask_convs.push_back(register_module(
        "mask." + std::to_string(i),
        std::make_shared<Conv2d>(i == 0 ? C : M, M, 3, Conv2dParams::make(1, 1), true, rng)));
  mask_up = register_module("mask_up", std::make_shared<Conv2d>(M, M, 3, Conv2dParams::make(1, 1), true, rng));
  mask_logits = register_module("mask_logits", std::make_shared<Conv2d>(M, 1, 1, Conv2dParams::make(1, 0), true, rng));
  normal_fill(*mask_logits, 0.001, rng);
}

Tensor RoiHeads::pool(const std::vector<Tensor>& levels, const Tensor& rois, int out, double canonical) const {
  SKINMTL_CHECK(levels.size() >= 4, "RoiHeads: needs the pyramid levels P2 .. P5, got " << levels.size());
  SKINMTL_CHECK(rois.ndim() == 2 && rois.size(1) == 5, "RoiHeads: rois must be (R, 5), got " << rois.str());
  RoiAlignParams p;
  p.out_h = p.out_w = out;
  p.sampling_ratio = cfg_.sampling_ratio;
  p.aligned = true;
  const std::vector<Tensor> p2_p5(levels.begin(), levels.begin() + 4);
  return roi_align_fpn(p2_p5, rois, p, /*min_level=*/2, canonical);
}

RoiHeads::BoxOutput RoiHeads::box_forward(const std::vector<Tensor>& levels, const Tensor& rois) {
  Tensor x = flatten(pool(levels, rois, cfg_.pooled, cfg_.box_canonical));  // (R, C * 7 * 7)
  x = relu(fc7->forward(relu(fc6->forward(x))));        // (R, 1024)
  BoxOutput out;
  out.class_logits = cls_score->forward(x);
  out.deltas = bbox_pred->forward(x);
  return out;
}

Tensor RoiHeads::mask_forward(const std::vector<Tensor>& levels, const Tensor& rois) {
  Tensor x = pool(levels, rois, cfg_.mask_pooled, cfg_.mask_canonical);  // (R, C, 14, 14)
  for (auto& conv : mask_convs) x = conv->forward(x, /*relu=*/true);
  x = upsample_nearest(x, 2 * x.size(2), 2 * x.size(3));  // (R, M, 28, 28)
  x = mask_up->forward(x, /*relu=*/true);
  return mask_logits->forward(x);  // (R, 1, 28, 28)
}

}  // namespace skinmtl
