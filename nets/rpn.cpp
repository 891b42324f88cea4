#include "nets/rpn.h"

#include "nets/boxes.h"
#include "nets/fpn.h"

namespace skinmtl {

RPNHead::RPNHead(const RpnConfig& cfg, Rng& rng) : cfg_(cfg) {
  SKINMTL_CHECK(cfg.channels > 0 && !cfg.anchor_sizes.empty() && !cfg.anchor_ratios.empty(),
                "RPNHead: channels, anchor sizes and ratios must be given");
  const int C = cfg.channels, A = cfg.anchors_per_cell();
  conv = register_module("conv", std::make_shared<Conv2d>(C, C, 3, Conv2dParams::make(1, 1), true, rng));
  cls_logits = register_module("cls_logits", std::make_shared<Conv2d>(C, A, 1, Conv2dParams::make(1, 0), true, rng));
  bbox_pred = register_module("bbox_pred", std::make_shared<Conv2d>(C, 4 * A, 1, Conv2dParams::make(1, 0), true, rng));
  for (Conv2d* c : {conv.get(), cls_logits.get(), bbox_pred.get()}) normal_fill(*c, 0.01, rng);
}

RPNHead::Output RPNHead::forward(const std::vector<Tensor>& levels) {
  SKINMTL_CHECK(levels.size() == cfg_.anchor_sizes.size(),
                "RPNHead: " << levels.size() << " levels for " << cfg_.anchor_sizes.size() << " anchor sizes");
  Output out;
  for (const Tensor& x : levels) {
    Tensor t = conv->forward(x, /*relu=*/true);  // the ReLU in the bias pass
    out.logits.push_back(cls_logits->forward(t));
    out.deltas.push_back(bbox_pred->forward(t));
  }
  return out;
}

std::vector<Tensor> RPNHead::anchors(const std::vector<Tensor>& levels, Device device) const {
  SKINMTL_CHECK(levels.size() == cfg_.anchor_sizes.size(),
                "RPNHead::anchors: " << levels.size() << " levels for " << cfg_.anchor_sizes.size() << " anchor sizes");
  std::vector<Tensor> out;
  for (size_t l = 0; l < levels.size(); ++l)
    out.push_back(make_anchors(levels[l].size(2), levels[l].size(3), fpn_stride((int)l + 2), cfg_.anchor_sizes[l],
                               cfg_.anchor_ratios, device));
  return out;
}

Tensor rpn_flatten_logits(const Tensor& logits) {
  SKINMTL_CHECK(logits.ndim() == 4, "rpn_flatten_logits: expected (N, A, h, w), got " << logits.str());
  // (N, A, h, w) -> (N, h, w, A) -> (N, h*w*A)
  return reshape(permute(logits, {0, 2, 3, 1}), {logits.size(0), -1});
}

Tensor rpn_flatten_deltas(const Tensor& deltas) {
  SKINMTL_CHECK(deltas.ndim() == 4 && deltas.size(1) % 4 == 0,
                "rpn_flatten_deltas: expected (N, 4A, h, w), got " << deltas.str());
  const int64_t N = deltas.size(0), A = deltas.size(1) / 4, h = deltas.size(2), w = deltas.size(3);
  // (N, 4A, h, w) -> (N, A, 4, h, w) -> (N, h, w, A, 4) -> (N, h*w*A, 4)
  return reshape(permute(reshape(deltas, {N, A, 4, h, w}), {0, 3, 4, 1, 2}), {N, -1, 4});
}

}  // namespace skinmtl
