// nets/detseg.h: the end-to-end detect + classify + segment network of Song
// et al., "An End-to-end Multi-task Deep Learning Framework for Skin Lesion
// Analysis" (IEEE JBHI 2020; arXiv 2019): a Mask R-CNN (He et al. 2017) with a
// ResNet-50 FPN backbone, a focal-loss RPN and a Jaccard-regularised mask loss.
//
//   image (N, 3, S, S), letterboxed to a square, per-channel mean subtracted
//   ResNet-50 stages c2 .. c5                           nets/resnet50.h  "backbone.*"
//   FPN: P2 .. P5 (+ P6 for the RPN), C = 256            nets/fpn.h       "fpn.*"
//   RPN: objectness + box deltas, 3 anchors per cell     nets/rpn.h       "rpn.*"
//   proposals: decode, clip, NMS 0.7                     nets/boxes.h
//   Classify / Detect / Segment subnets on each RoI      nets/roi_heads.h "roi_heads.*"
//
// ---- the loss (Song et al. eqs. 1-6) ---------------------------------------------------
//
// L_total = L_rpn + lambda_cls L_cls + L_reg + L_mask   (eq. 6 with eq. 4; the paper's
// lambda_cls is 1, DetSegConfig::cls_weight), where, over the images of the batch:
//
//   rpn_cls = sum_i FL(p_i, p_i*) / N_cls               eq. 2, alpha 0.25, gamma ("beta") 2
//   rpn_reg = rho sum_i p_i* smoothL1(t_i - t_i*) / N_cls   eq. 1 with eq. 3, rho = 10
//     i runs over the sampled anchors: 256 per image, at most a quarter of them
//     positive (IoU >= 0.7 with the lesion's box, or the best anchor for it),
//     the rest negative (IoU < 0.3): the paper's fixed 1:3 ratio. Anchors that
//     cross the image border are ignored (Detectron's RPN.STRADDLE_THRESH 0).
//     N_cls = the number of sampled anchors. Eq. 1 writes N_reg for the
//     regression term; here N_reg = N_cls (as torchvision, which divides both
//     terms by the sampled anchors), and rho = 10 then weighs the box term up.
//   cls  = softmax cross-entropy over the sampled RoIs, classes {background,
//          benign, malignant} (mean over the RoIs)
//   reg  = sum over foreground RoIs of smoothL1(t - t*) / the number of sampled
//          RoIs (torchvision's fastrcnn_loss normalisation), box coder weights
//          (10, 10, 5, 5) (Detectron)
//   mask = eq. 5 over the foreground RoIs, each with its m x m = 28 x 28 target:
//          mean per-pixel binary cross-entropy + the soft Jaccard distance with
//          smooth factor delta = 100 (framework/ops.h soft_jaccard_distance),
//          averaged over the RoIs; 0 when there is no foreground RoI. With
//          delta = 100 the Jaccard term is about 50 for a fresh mask head (the
//          BCE about 0.7, every other term about 1 or less), so it dominates
//          the early gradient: `train detseg` clips the gradient norm
//          (framework/grad_clip.h), as the Matterport code behind the paper's
//          settings does.
//   The smooth-L1 threshold is 1 (eq. 3), for both box terms.
//
// Sampled RoIs: the RPN's proposals (after NMS, the top 2000 per image in
// training) plus the ground-truth box, 128 per image, up to a quarter
// foreground (IoU >= 0.5; Detectron), the rest background (IoU < 0.5). The
// proposals are constants for the heads (approximate joint training, as
// Detectron and torchvision): no gradient flows through the boxes.
//
// Mask targets: the image's ground-truth mask, RoI-aligned (forward only, 28 x
// 28, bilinear with aligned = true and about one sample per mask pixel, as
// Detectron2) onto each foreground RoI's box and thresholded at 0.5.
//
// Every trainable parameter gets a gradient at every iteration, even from a
// batch without a foreground RoI: the Segment subnet then runs on one RoI with
// weight 0 (Detectron's trick), so SGD's momentum and decay treat the mask
// head alike in every batch and a resumed run matches one never stopped.
//
// An image whose lesion mask is empty (no box) has no positive anchor and no
// foreground RoI: it adds negatives to rpn_cls and background RoIs to cls, and
// nothing to rpn_reg, reg and mask. Every term stays finite (tested).
//
// ---- prediction --------------------------------------------------------------------------
//
// For each image: the proposals (top 1000 after NMS), the box branch on them,
// and the TOP DETECTION: the proposal with the highest foreground score
// 1 - p_background (= p_benign + p_malignant: "lesion or not", since the
// image has one lesion and its class is read separately), its box refined by
// the Detect subnet's deltas and clipped to the image. The image's malignancy
// is p_malignant / (p_benign + p_malignant) of that RoI. When that score is at
// least score_thresh (0.05, Mask R-CNN's test threshold) the image has a
// detection: the Segment subnet runs on the refined box and its 28 x 28 mask
// probabilities are resized (bilinear, pixel centres) into the box, pasted into
// an S x S map and thresholded at 0.5 (He et al.'s inference). Without a
// detection the mask is empty and the malignancy is still that RoI's (the best
// proposal's). An image with no proposal at all (possible only on tiny
// inputs) uses the whole image as its one proposal.
//
// The malignancy above is ImageScore::Top, the paper's: the lesion's class is
// its box's. set_image_score(ImageScore::Vote) reads it instead from every
// proposal that overlaps the top one by IoU >= roi_sample.fg_iou (0.5): the
// RoIs that training labels with the lesion's class. Their ratio of summed
// probabilities, sum p_malignant / sum (p_benign + p_malignant), is the
// foreground-weighted mean of their own ratios: one 7 x 7 RoIAlign view is a
// noisy read of the lesion, and the vote averages the views around it, as box
// voting averages boxes (Gidaris & Komodakis 2015). An evaluation option, not
// the paper's; the box, the detection and the mask stay the top RoI's.
//
// ---- training phases (Song et al. section III-B) -----------------------------------------
//
//   phase 1: the three subnets (roi_heads) only
//   phase 2: "the layers from the RPN and up": FPN, RPN and roi_heads
//   phase 3: all layers, at a tenth of the learning rate (the caller sets it)
// set_detseg_phase() marks the others frozen (requires_grad off): their
// forward runs without a tape, so no gradient ever reaches them, and the
// optimizer (framework/optimizer.h) skips parameters without a gradient.
// Build the optimizer over net.parameters() BEFORE the first phase is set: SGD
// wants every parameter trainable when it is constructed.
// (Matterport's Mask R-CNN, whose settings the paper's schedule resembles,
// counts FPN and RPN among its "heads"; here phase 1 is the subnets alone, as
// the paper's words say.)
//
// ---- where the work runs ------------------------------------------------------------------
//
// On a GPU the network and its losses run there, and the host decides what the
// losses compare against, with one wait for the device per iteration before
// the heads (to read the RPN's outputs: B x A logits and B x A x 4 deltas):
//   - the RPN's targets: anchors, IoU, labels and sampling on the host (while the
//     device runs the backbone); the losses read the sampled anchors alone
//     (take_rows), so 256 indices and targets per image go up, not A of each;
//   - the proposals: top-k, decoding, clipping on the host, the NMS on the
//     device (generate_proposals' nms_device; one more short wait per image);
//   - the RoI samples: matching and sampling on the host, uploaded once;
//   - the mask targets: RoI-aligned and thresholded on the device (binarize).
// On the CPU the same code runs, and every copy is a no-op.
//
// Batch normalisation in the backbone is a choice of the caller
// (backbone->set_bn_frozen): frozen (running statistics, Detectron's and
// Matterport's choice with 2 images per batch) for pretrained weights.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "framework/module.h"
#include "io/image.h"
#include "nets/boxes.h"
#include "nets/fpn.h"
#include "nets/resnet50.h"
#include "nets/roi_heads.h"
#include "nets/rpn.h"

namespace skinmtl {

// The Classify subnet's loss: eq. 2's focal loss over the softmax (the paper's),
// or the softmax cross-entropy (Mask R-CNN's).
enum class DetSegClsLoss { Focal, CrossEntropy };
const char* detseg_cls_loss_name(DetSegClsLoss l);                        // "focal" | "ce"
bool parse_detseg_cls_loss(const std::string& name, DetSegClsLoss* out);  // false: no such name

struct DetSegConfig {
  ResNetConfig backbone;  // classes is forced to 0 (a trunk)
  int channels = 256;     // the FPN's width C (tests use fewer)
  RpnConfig rpn;          // its channels follow `channels`
  RoiHeadsConfig heads;   // its channels follow `channels`
  // RPN training targets: IoU >= 0.7 positive, < 0.3 negative, 256 anchors per
  // image, a quarter positive at most.
  AnchorTargetParams anchor_targets;
  // Proposals: per level the top pre_nms_top_n, NMS 0.7, the top post_nms_top_n
  // kept; 2000 in training, 1000 in prediction (Detectron's FPN settings).
  ProposalParams train_proposals{2000, 2000, 0.7, 0.0};
  ProposalParams test_proposals{1000, 1000, 0.7, 0.0};
  RoiSampleParams roi_sample;      // 128 RoIs per image, a quarter foreground
  double focal_alpha = 0.25, focal_gamma = 2.0;  // eq. 2
  // The Classify subnet's L_cls. The paper computes it "the same as" the RPN's (eq. 2, the
  // focal loss with focal_alpha and focal_gamma), over the three classes' softmax
  // (softmax_focal_loss); Mask R-CNN, which the paper builds on, uses the softmax
  // cross-entropy (the loss of the models written before this option existed).
  DetSegClsLoss cls_loss = DetSegClsLoss::Focal;
  // lambda_cls, the Classify subnet's weight in L_total (the paper: 1, as every term). The
  // malignancy is learned from the foreground RoIs alone, a few of the 128 sampled per
  // image, and the focal loss scales each by alpha (1 - p)^2: a weight above 1 gives the
  // benign-vs-malignant decision a larger share of a short run's steps (mmdetection's
  // loss_weight). The logged `cls` is the unweighted term.
  double cls_weight = 1.0;
  double rpn_reg_weight = 10.0;                  // rho, eq. 1
  double smooth_l1_beta = 1.0;                   // eq. 3
  double jaccard_smooth = 100.0;                 // delta, eq. 5
  double score_thresh = 0.05;                    // a detection's minimum foreground score
};

// The box coder of the second stage (Detectron's weights 10, 10, 5, 5).
BoxCoder roi_box_coder();

// The ground truth of a batch of B letterboxed images of side S.
struct DetSegTargets {
  Tensor boxes;      // (B, 4) x1, y1, x2, y2 in pixels, CPU; a row of -1s: no lesion (empty mask)
  Tensor malignant;  // (B) 1 malignant (melanoma), 0 benign, CPU
  Tensor masks;      // (B, 1, S, S) 0 / 1, on the model's device
};

struct DetSegLosses {
  Tensor total;                           // shape (): the sum of the five below, cls times cls_weight
  Tensor rpn_cls, rpn_reg, cls, reg, mask;  // shape () each
  int64_t sampled_anchors = 0, positive_anchors = 0, rois = 0, foreground_rois = 0;
};

// How predict() reads an image's malignancy from its RoIs (see the header comment).
enum class ImageScore { Top, Vote };
ImageScore image_score_from_name(const std::string& name);  // "top" | "vote"; else an error naming both
const char* image_score_name(ImageScore s);

// The malignancy of one image from its R RoIs: probs (R x 3, softmax rows:
// background, benign, malignant), rois (R x 5 as RoIAlign takes them: batch
// index, x1, y1, x2, y2; the index is not read), `best` the top RoI's row.
// Top: p_mal / (p_ben + p_mal) of row `best`; Vote: sum p_mal / sum (p_ben +
// p_mal) over the rows whose box overlaps row best's by IoU >= min_iou (best
// among them). 0.5 when the foreground mass is 0.
double image_malignancy(const double* probs, const float* rois, int64_t R, int64_t best, ImageScore s,
                        double min_iou);

// One image's prediction, in the letterboxed input's pixels (io/letterbox.h's
// box_from_letterbox and unletterbox_mask map them back to the source image).
struct DetSegOutput {
  bool detected = false;    // score >= score_thresh
  std::array<float, 4> box{};  // x1, y1, x2, y2 of the top detection (or best proposal)
  double score = 0;         // its foreground score, 1 - p_background
  std::array<double, 3> probs{};  // softmax: background, benign, malignant
  double malignant = 0.5;   // p_malignant / (p_benign + p_malignant): the top RoI's, or the vote's
  std::vector<float> mask_prob;  // S * S row-major: the pasted mask probabilities (0 outside the box)
  Image mask;                    // S x S x 1: 255 where mask_prob >= 0.5, else 0
};

class DetSegNet : public Module {
 public:
  DetSegNet(const DetSegConfig& cfg, Rng& rng);

  // The pyramid {P2, ..., P6} of a batch of images (N, 3, S, S).
  std::vector<Tensor> features(const Tensor& images);

  // The training loss of a batch (see the header comment). `rng` draws the
  // anchor and RoI samples.
  DetSegLosses loss(const Tensor& images, const DetSegTargets& targets, Rng& rng);

  // Predictions for a batch (no tape; the caller chooses train/eval mode,
  // normally eval()). One per image.
  std::vector<DetSegOutput> predict(const Tensor& images);

  const DetSegConfig& config() const { return cfg_; }
  // The minimum foreground score of a detection in predict() (>= 0; above 1:
  // never a detection, only the class scores).
  void set_score_thresh(double t);
  // How the image's malignancy is read from the RoIs (default Top, the paper's).
  void set_image_score(ImageScore s) { image_score_ = s; }
  ImageScore image_score() const { return image_score_; }

  std::shared_ptr<ResNet50> backbone;
  std::shared_ptr<FPN> fpn;
  std::shared_ptr<RPNHead> rpn;
  std::shared_ptr<RoiHeads> roi_heads;

 private:
  DetSegConfig cfg_;
  ImageScore image_score_ = ImageScore::Top;
  // The anchors on the host, per level and all levels together, for the
  // pyramid sizes in `sizes`: the same at every iteration of a run, so made
  // once (about 260,000 at 1024 x 1024) and kept until the sizes change.
  struct HostAnchors {
    std::vector<int64_t> sizes;  // h, w of each level
    std::vector<Tensor> levels;  // (A_l, 4) each, CPU
    Tensor all;                  // (A, 4), CPU
  };
  HostAnchors anchors_;
  const HostAnchors& host_anchors(const std::vector<Tensor>& P);
};

// The parameter groups the three phases train (see the header comment).
enum class DetSegGroup { Backbone, Fpn, Rpn, Heads };
std::vector<Parameter*> detseg_group(DetSegNet& net, DetSegGroup group);
// Phase 1, 2 or 3: sets requires_grad on the groups the phase trains and off
// on the others, and drops the accumulated gradient of every frozen parameter
// (so the optimizer skips it instead of applying momentum and decay).
void set_detseg_phase(DetSegNet& net, int phase);
// The learning-rate factor of a phase: 1, 1, 0.1.
double detseg_phase_lr_factor(int phase);

}  // namespace skinmtl
