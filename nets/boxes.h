// nets/boxes.h: the non-differentiable box machinery of the two-stage detector
// of Song et al. 2019 ("An end-to-end multi-task deep learning framework for
// skin lesion analysis", IEEE JBHI; /work/shared/papers/song-2019-...txt):
// the RPN's training targets and proposals, and the second stage's RoI
// sampling, on Tensors of either device. The box ops they use (anchors, IoU,
// the box coder, clip, NMS) are framework ops (framework/ops.h).
//
// What the paper fixes (sec. III-B.2): anchors of several sizes and aspect
// ratios over the FPN levels (32..512 over P2..P6, ratios 0.5, 1, 2, as in FPN
// and Mask R-CNN), anchors with IoU >= 0.7 with a lesion box positive and
// < 0.3 negative, positives : negatives sampled 1 : 3, NMS on the proposals.
// Where the paper is silent, this follows Detectron / Detectron2 (Mask R-CNN
// with FPN; Ren et al. 2015 for the RPN, He et al. 2017 for the RoI sampling):
//   - boxes in continuous pixel coordinates, width = x2 - x1, no "+ 1"
//     (Detectron2 / torchvision; Detectron v1 used x2 - x1 + 1). See kernels/boxes.h
//     for the formulas (anchors, IoU, encode/decode, clip, NMS) and framework/ops.h
//     for the ops (make_anchors, box_iou, encode_boxes, decode_boxes, clip_boxes,
//     gather_rows, nms);
//   - anchors centred at ((x + 0.5) stride, (y + 0.5) stride) (Detectron2 with offset 0.5);
//   - RPN labels as Detectron2's Matcher(0.3, 0.7, allow_low_quality_matches) and
//     the sampling of subsample_labels (at most int(batch_size * pos_fraction)
//     positives, the rest negatives, chosen uniformly without replacement);
//   - the border rule of Faster R-CNN (anchors crossing the image by more than
//     allowed_border are ignored; 0 as in Detectron v1's RPN.STRADDLE_THRESH);
//   - proposals: per level the top pre_nms_top_n by objectness, decode, clip,
//     drop small boxes, then ONE NMS over all levels together (this task's choice;
//     Detectron2 runs NMS per level and Detectron v1 per level before collecting),
//     keep post_nms_top_n;
//   - RoI sampling as Detectron v1's fast_rcnn roi_data / Detectron2's ROIHeads:
//     gt boxes appended to the proposals, fg IoU >= 0.5, bg in [0, 0.5), 128 RoIs
//     per image at most 25 % foreground; foreground first, then background.
//
// Where the work runs. Every function returns tensors on the device of its
// inputs (which must all be on one device; CUDA tensors are float32, CPU ones
// float32 or float64). The box arithmetic runs on that device through the box
// ops of framework/ops.h (anchors, IoU, encode, decode, clip, row gathers, NMS;
// their kernels are in kernels/boxes.h, the formulas in its header comment),
// which this file uses rather than declares. The sequential bookkeeping runs
// on the HOST, with every transfer written out in nets/boxes.cpp (nothing
// copies behind the reader's back):
//   generate_proposals    objectness logits to the host (top-k per level); the
//                         selected anchors and deltas gathered, decoded and clipped on
//                         the device; the decoded boxes to the host (size filter,
//                         finiteness); nms_sorted (framework/ops.h) on the survivors,
//                         on the GPU where asked (nms_device); scores (sigmoid) on the
//                         host. DetSegNet passes host inputs, read from the GPU at once.
//   sample_anchors        all on the host (anchors and gt boxes copied there when they
//                         are on the GPU): IoU (A, G), max/argmax, best-anchor rule,
//                         sampling.
//   assign_anchor_targets sample_anchors, then the labels to the device and the deltas
//                         encoded on the device.
//   sample_rois           the same: IoU on the device, matching and sampling on the
//                         host, RoIs gathered and deltas encoded on the device.
// The copies to the host wait for the project's stream (kernels/device.h): each
// of these functions synchronises with the GPU, at the points named above.
//
// Randomness: every sample draws from the Rng passed in, in a fixed order, so
// the same seed gives the same samples (tests check it). Ties are broken by the
// lower index everywhere (sorting by score, argmax over gt boxes).
//
// None of this is on the autograd tape: the outputs are constants for the
// losses (inputs that require gradients are read, never recorded).
#pragma once

#include <cstdint>
#include <vector>

#include "framework/ops.h"  // the box ops and BoxCoder
#include "framework/random.h"
#include "framework/tensor.h"

namespace skinmtl {

// RPN proposals for ONE image (Detectron FPN): per level, the top pre_nms_top_n anchors by objectness
// logit, decoded, clipped, boxes smaller than min_size dropped, then NMS over all levels together
// (iou 0.7), keep post_nms_top_n by score. deltas[l] (A_l, 4), logits[l] (A_l), anchors[l] (A_l, 4).
// pre_nms_top_n / post_nms_top_n <= 0: no limit. Dropped as "small": width or height < min_size,
// and always boxes of zero width or height (e.g. an anchor decoded wholly outside the image and
// clipped flat; Detectron2's nonempty()). Non-finite logits or boxes (a diverged net) are an error.
// Proposals are ordered by descending score; scores = sigmoid(logit). The deltas are decoded with
// BoxCoder{} (unit weights), the RPN's coder in Detectron.
struct ProposalParams {
  int pre_nms_top_n = 1000;
  int post_nms_top_n = 1000;
  double nms_iou = 0.7;
  double min_size = 0;
};
struct Proposals {
  Tensor boxes;   // (P, 4)
  Tensor scores;  // (P) objectness probability
};
// nms_device: where the NMS runs when the inputs are on the host. Device::CUDA runs the GPU's
// bitmask NMS on them (the candidate boxes up, the kept positions back): the greedy walk on
// the CPU takes about 0.2 s for the 5 x 2000 candidates of a 1024 x 1024 image before the RPN
// has learnt anything, the GPU a few milliseconds. Inputs on the GPU: it runs there.
Proposals generate_proposals(const std::vector<Tensor>& anchors, const std::vector<Tensor>& logits,
                             const std::vector<Tensor>& deltas, double img_h, double img_w,
                             const ProposalParams& p, Device nms_device = Device::CPU);

// RPN targets for ONE image: labels (A) 1 positive / 0 negative / -1 ignored: IoU >= pos_iou positive,
// < neg_iou negative, and each gt's best anchor(s) positive (Faster R-CNN rule; ties included);
// anchors crossing the image border by more than allowed_border are ignored (-1; < 0 disables);
// then sample at most batch_size anchors with at most pos_fraction positives (0.25 = the paper's 1:3),
// filling the rest with negatives; unsampled become -1. targets (A, 4): encode(anchor, matched gt).
// No gt boxes (empty mask): all sampled anchors negative.
//
// Details (Detectron2's Matcher and subsample_labels):
//  - "inside" the image: x1 >= -b, y1 >= -b, x2 <= img_w + b, y2 <= img_h + b (b =
//    allowed_border; an anchor ending exactly on the border does not cross it). Only
//    inside anchors take part in anything below, the best-anchor rule included.
//  - an anchor's matched gt is its argmax-IoU gt (ties: the lower gt index), also for
//    anchors made positive by the best-anchor rule;
//  - best-anchor rule: for each gt g with best IoU m_g > 0 over the inside anchors, every
//    inside anchor with IoU(a, g) == m_g is positive (overriding a negative label). A gt
//    that overlaps no inside anchor at all (m_g == 0) makes none positive: otherwise every
//    anchor would "tie" at 0;
//  - sampling: positives kept = min(#positive, int(batch_size * pos_fraction)), negatives
//    kept = min(#negative, batch_size - positives kept), each drawn uniformly without
//    replacement from rng (positives first, then negatives);
//  - deltas: encode(anchor, matched gt) for the sampled positives, ZERO rows elsewhere
//    (the regression loss only reads positives).
// gt_boxes (G, 4) with G >= 0 and positive width and height; anchors (A, 4).
struct AnchorTargetParams {
  double pos_iou = 0.7, neg_iou = 0.3;
  int batch_size = 256;
  double pos_fraction = 0.25;
  double allowed_border = 0;
};
struct AnchorTargets {
  Tensor labels;  // (A) float: 1 positive, 0 negative, -1 ignored
  Tensor deltas;  // (A, 4)
  int64_t positives = 0, negatives = 0;
};
AnchorTargets assign_anchor_targets(const Tensor& anchors, const Tensor& gt_boxes, double img_h, double img_w,
                                    const AnchorTargetParams& p, Rng& rng, const BoxCoder& c = {});

// The same labelling and sampling (the same draws from rng), as index lists: what a loss over the
// sampled anchors alone needs (DetSegNet's: take_rows of the 256 sampled of about 260,000 anchors
// of a 1024 x 1024 image, instead of dense (A) labels and (A, 4) targets uploaded and weighted).
// assign_anchor_targets is built on it.
struct SampledAnchors {
  std::vector<int64_t> positives;  // anchor indices, ascending
  std::vector<int64_t> negatives;  // anchor indices, ascending
  std::vector<int64_t> matched;    // per positive: the gt box it regresses to
};
SampledAnchors sample_anchors(const Tensor& anchors, const Tensor& gt_boxes, double img_h, double img_w,
                              const AnchorTargetParams& p, Rng& rng);

// Second-stage RoI sampling for ONE image (Mask R-CNN): gt boxes are appended to the proposals; IoU >=
// fg_iou with the best gt is foreground (class = that gt's class, 1..K), in [bg_lo, bg_hi) background
// (class 0); sample at most batch_size with at most pos_fraction foreground (1:3).
//
// Details: candidates are proposals (P, 4) then gt_boxes (G, 4) (candidate P + g is gt g).
// Best gt = argmax IoU (ties: lower gt index); with no gt every candidate has IoU 0.
// Foreground kept = min(#fg, int(batch_size * pos_fraction)); background kept =
// min(#bg, batch_size - foreground kept); both drawn uniformly without replacement from rng
// (fg first). Output order: the kept foreground, then the kept background, each in
// ascending candidate order. deltas: encode(roi, matched gt) with the coder passed in
// (Detectron's second stage uses wx = wy = 10, ww = wh = 5) for foreground, zero rows for
// background. gt_classes (G) in 1..K.
struct RoiSampleParams {
  double fg_iou = 0.5, bg_hi = 0.5, bg_lo = 0.0;
  int batch_size = 128;
  double pos_fraction = 0.25;
};
struct RoiSamples {
  Tensor rois;                    // (S, 4)
  Tensor classes;                 // (S) float, 0 = background
  Tensor deltas;                  // (S, 4), zero for background
  std::vector<int64_t> gt_index;  // (S) matched gt, -1 for background
  int64_t foreground = 0;
};
RoiSamples sample_rois(const Tensor& proposals, const Tensor& gt_boxes, const std::vector<int>& gt_classes,
                       const RoiSampleParams& p, Rng& rng, const BoxCoder& c = {});

}  // namespace skinmtl
