// nets/boxes.cpp: see nets/boxes.h. The box arithmetic is done by the box ops
// of framework/ops.h on the inputs' device; this file does the detector's
// host-side bookkeeping (top-k, matching, sampling), with every transfer
// explicit.
#include "nets/boxes.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "framework/autograd.h"
#include "framework/dispatch.h"
#include "framework/ops.h"

namespace skinmtl {
namespace {

// Positions 0..n-1 ordered by descending value; ties: the lower position first
// (the order nms() sorts by, framework/ops/boxes.cpp).
// k of the values of `pool`, uniformly without replacement (a partial
// Fisher-Yates shuffle driven by rng), returned ascending. k >= pool.size()
// takes them all and draws nothing from rng.
std::vector<int64_t> sample_subset(std::vector<int64_t> pool, int64_t k, Rng& rng) {
  const int64_t n = (int64_t)pool.size();
  if (k < n) {
    for (int64_t i = 0; i < k; ++i) std::swap(pool[(size_t)i], pool[(size_t)rng.randint(i, n)]);
    pool.resize((size_t)k);
  }
  std::sort(pool.begin(), pool.end());
  return pool;
}

// Gt boxes must be finite with positive width and height (encode takes their log).
void check_gt_boxes(const char* op, const Tensor& gt) {
  // Device-to-host copy of the gt boxes (G x 4 values).
  const std::vector<double> g = gt.to(Device::CPU).to_vector();
  for (size_t i = 0; i < g.size(); i += 4)
    SKINMTL_CHECK(std::isfinite(g[i]) && std::isfinite(g[i + 1]) && std::isfinite(g[i + 2]) &&
                      std::isfinite(g[i + 3]) && g[i + 2] > g[i] && g[i + 3] > g[i + 1],
                  op << ": gt box " << i / 4 << " (" << g[i] << ", " << g[i + 1] << ", " << g[i + 2]
                     << ", " << g[i + 3] << ") must be finite with x2 > x1 and y2 > y1");
}

}  // namespace

// ---- RPN proposals --------------------------------------------------------------------------

Proposals generate_proposals(const std::vector<Tensor>& anchors, const std::vector<Tensor>& logits,
                             const std::vector<Tensor>& deltas, double img_h, double img_w,
                             const ProposalParams& p, Device nms_device) {
  const char* op = "generate_proposals";
  SKINMTL_CHECK(!anchors.empty() && anchors.size() == logits.size() &&
                    anchors.size() == deltas.size(),
                op << ": needs one anchors, logits and deltas tensor per level, got "
                   << anchors.size() << ", " << logits.size() << ", " << deltas.size());
  const Tensor& first = anchors[0];
  check_boxes(op, first, "anchors[0]");

  // Per level: the top pre_nms_top_n logits (on the host), their anchors and
  // deltas gathered, decoded and clipped (on the device).
  std::vector<Tensor> level_boxes;
  std::vector<double> cand_logit;    // the logit of every candidate, levels concatenated
  std::vector<int64_t> level_first;  // where each level's candidates begin in cand_logit
  for (size_t l = 0; l < anchors.size(); ++l) {
    const Tensor &a = anchors[l], &lg = logits[l], &d = deltas[l];
    SKINMTL_CHECK(lg.defined(), op << ": logits[" << l << "] is undefined");
    check_boxes(op, a, ("anchors[" + std::to_string(l) + "]").c_str());
    check_boxes(op, d, ("deltas[" + std::to_string(l) + "]").c_str());
    check_same_kind(op, first, a);
    check_same_kind(op, first, d);
    check_same_kind(op, first, lg);
    SKINMTL_CHECK(lg.ndim() == 1 && lg.size(0) == a.size(0) && d.size(0) == a.size(0),
                  op << ": level " << l << ": anchors " << a.str() << ", logits " << lg.str()
                     << ", deltas " << d.str() << " must be (A, 4), (A), (A, 4)");
    // The level's logits on the host (a device-to-host copy of A_l values when
    // on the GPU), read for the top-k in their own type: the anchors' (float32
    // or float64, check_same_kind above; the RPN's outputs reach here widened).
    const Tensor lh = lg.to(Device::CPU);
    const int64_t A = lh.numel();
    const int64_t k = p.pre_nms_top_n <= 0 ? A : std::min<int64_t>(p.pre_nms_top_n, A);
    level_first.push_back((int64_t)cand_logit.size());
    std::vector<int64_t> top;
    // The top-k's own pass checks the logits are finite; its error names the level.
    const std::string what = std::string(op) + ": level " + std::to_string(l) + ": objectness logit";
    dispatch_cpu(lh.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* v = lh.data<T>();
      // Descending logit, ties by the lower anchor index.
      top = top_k_descending(v, A, k, what.c_str());
      for (int64_t i : top) cand_logit.push_back((double)v[i]);
    });
    level_boxes.push_back(
        clip_boxes(decode_boxes(gather_rows(a, top), gather_rows(d, top)), img_h, img_w));
  }
  NoGradGuard no_tape;  // concat below: these boxes are constants, never on the tape
  const Tensor cand = level_boxes.size() == 1 ? level_boxes[0] : concat(level_boxes, 0);

  // Device-to-host copy of the candidate boxes for the size filter.
  const std::vector<double> b = cand.to(Device::CPU).to_vector();
  std::vector<int64_t> alive;  // candidate indices, ascending
  for (size_t i = 0; i < cand_logit.size(); ++i) {
    const double* q = &b[4 * i];
    SKINMTL_CHECK(std::isfinite(q[0]) && std::isfinite(q[1]) && std::isfinite(q[2]) &&
                      std::isfinite(q[3]),
                  op << ": decoded box " << i << " is not finite (non-finite deltas?)");
    const double w = q[2] - q[0], h = q[3] - q[1];
    if (w > 0 && h > 0 && w >= p.min_size && h >= p.min_size) alive.push_back((int64_t)i);
  }

  // One NMS over the survivors of all levels, in descending logit order (the
  // sigmoid is monotonic); ties by the lower candidate index. Each level's
  // survivors are in that order already (top_k_descending's), one run per
  // level: merging the runs in level order, stably, gives what a stable sort
  // of all of them would (order_descending), in linear time rather than a
  // sort's n log n (about 0.6 ms for the 10,000 candidates of a 1024 x 1024
  // image, while a GPU waits).
  std::vector<int64_t> sorted = alive;  // candidate indices by descending score
  std::vector<std::ptrdiff_t> run_end;  // where each level's survivors end in alive
  for (size_t l = 1; l < level_first.size(); ++l)
    run_end.push_back(std::lower_bound(alive.begin(), alive.end(), level_first[l]) - alive.begin());
  run_end.push_back((std::ptrdiff_t)alive.size());
  const auto by_logit = [&](int64_t a, int64_t b) { return cand_logit[(size_t)a] > cand_logit[(size_t)b]; };
  for (size_t l = 1; l < run_end.size(); ++l)  // levels 0..l-1 merged, then level l merged in
    std::inplace_merge(sorted.begin(), sorted.begin() + run_end[l - 1], sorted.begin() + run_end[l], by_logit);
  // Host-to-device copy of the sorted candidates when the inputs are on the
  // host and the NMS is asked for on the GPU.
  const Tensor sorted_boxes = gather_rows(cand, sorted);
  // The walk stops at post_nms_top_n kept: the first of the whole walk.
  const std::vector<int64_t> kept = nms_sorted(
      sorted_boxes.device() == Device::CPU && nms_device != Device::CPU ? sorted_boxes.to(nms_device) : sorted_boxes,
      p.nms_iou, std::max(0, p.post_nms_top_n));

  std::vector<int64_t> final_index;
  std::vector<double> kept_logit;
  for (int64_t k : kept) {
    final_index.push_back(sorted[(size_t)k]);
    kept_logit.push_back(cand_logit[(size_t)sorted[(size_t)k]]);
  }
  // The scores: the sigmoid op on the kept logits, in double on the host
  // (the values were on the host already, and double keeps them exact).
  const int64_t P = (int64_t)kept_logit.size();
  const std::vector<double> score = sigmoid(Tensor::from_vector(kept_logit, {P}, DType::F64)).to_vector();
  Proposals out;
  out.boxes = gather_rows(cand, final_index);
  // Host-to-device copy of the scores (P values) when the inputs are on the GPU.
  out.scores = Tensor::from_vector(score, {P}, first.dtype()).to(first.device());
  return out;
}

// ---- RPN targets ----------------------------------------------------------------------------

namespace {

// The labelling and sampling of sample_anchors over host arrays: anchors
// (A, 4), iou (A, G) (nullptr when G = 0). One pass over the anchors for the
// border rule, the thresholds and the argmax; one per gt for its best anchors.
template <typename T>
SampledAnchors label_and_sample(const T* anchors, const T* iou, int64_t A, int64_t G, double img_h,
                                double img_w, const AnchorTargetParams& p, Rng& rng) {
  std::vector<signed char> label((size_t)A, -1);  // 1 positive, 0 negative, -1 ignored
  std::vector<int64_t> match((size_t)A, -1);       // each inside anchor's argmax gt
  std::vector<char> inside((size_t)A, 1);
  const double t = p.allowed_border;
  for (int64_t a = 0; a < A; ++a) {
    const T* q = anchors + 4 * a;
    if (p.allowed_border >= 0)
      inside[a] = q[0] >= -t && q[1] >= -t && q[2] <= img_w + t && q[3] <= img_h + t;
    if (!inside[a]) continue;
    if (G == 0) {
      label[a] = 0;
      continue;
    }
    // Threshold labels and the argmax gt (Detectron2's Matcher).
    const T* row = iou + a * G;
    int64_t best = 0;
    for (int64_t g = 1; g < G; ++g)
      if (row[g] > row[best]) best = g;  // ties keep the lower gt index
    match[a] = best;
    if (row[best] < p.neg_iou) label[a] = 0;
    else if (row[best] >= p.pos_iou) label[a] = 1;
  }
  // The best-anchor rule: each gt's best inside anchor(s), ties included.
  for (int64_t g = 0; g < G; ++g) {
    T best = 0;
    for (int64_t a = 0; a < A; ++a)
      if (inside[a]) best = std::max(best, iou[a * G + g]);
    if (best <= 0) continue;  // overlaps no inside anchor: no "best" anchor
    for (int64_t a = 0; a < A; ++a)
      if (inside[a] && iou[a * G + g] == best) label[a] = 1;
  }

  // Sampling: at most int(batch_size * pos_fraction) positives, negatives fill the batch.
  std::vector<int64_t> pos, neg;
  for (int64_t a = 0; a < A; ++a) {
    if (label[a] == 1) pos.push_back(a);
    else if (label[a] == 0) neg.push_back(a);
  }
  const int64_t max_pos = (int64_t)(p.batch_size * p.pos_fraction);
  SampledAnchors out;
  out.positives = sample_subset(std::move(pos), max_pos, rng);
  out.negatives = sample_subset(std::move(neg), (int64_t)p.batch_size - (int64_t)out.positives.size(), rng);
  for (int64_t a : out.positives) out.matched.push_back(match[a]);
  return out;
}

}  // namespace

SampledAnchors sample_anchors(const Tensor& anchors, const Tensor& gt_boxes, double img_h, double img_w,
                              const AnchorTargetParams& p, Rng& rng) {
  const char* op = "sample_anchors";
  check_boxes(op, anchors, "anchors");
  check_boxes(op, gt_boxes, "gt_boxes");
  check_same_kind(op, anchors, gt_boxes);
  SKINMTL_CHECK(p.neg_iou <= p.pos_iou, op << ": neg_iou " << p.neg_iou << " > pos_iou " << p.pos_iou);
  SKINMTL_CHECK(p.batch_size >= 0 && p.pos_fraction >= 0 && p.pos_fraction <= 1,
                op << ": batch_size must be >= 0 and pos_fraction in [0, 1], got " << p.batch_size
                   << ", " << p.pos_fraction);
  const int64_t A = anchors.size(0), G = gt_boxes.size(0);
  check_gt_boxes(op, gt_boxes);

  // All of it on the host: device-to-host copies of the anchors (A x 4 values)
  // and gt boxes when they are on the GPU; IoU (A, G) by the CPU kernel.
  const Tensor an = anchors.to(Device::CPU), gt = gt_boxes.to(Device::CPU);
  const Tensor iou = G > 0 ? box_iou(an, gt) : Tensor();
  SampledAnchors out;
  dispatch_cpu(an.dtype(), [&](auto tag) {
    using T = decltype(tag);
    out = label_and_sample<T>(an.data<T>(), G > 0 ? iou.data<T>() : nullptr, A, G, img_h, img_w, p, rng);
  });
  return out;
}

AnchorTargets assign_anchor_targets(const Tensor& anchors, const Tensor& gt_boxes, double img_h,
                                    double img_w, const AnchorTargetParams& p, Rng& rng,
                                    const BoxCoder& c) {
  const SampledAnchors s = sample_anchors(anchors, gt_boxes, img_h, img_w, p, rng);
  const int64_t A = anchors.size(0);
  std::vector<double> labels((size_t)A, -1.0);
  std::vector<int64_t> reg_match((size_t)A, -1);  // the gt to regress to, sampled positives only
  for (size_t k = 0; k < s.positives.size(); ++k) {
    labels[s.positives[k]] = 1.0;
    reg_match[s.positives[k]] = s.matched[k];
  }
  for (int64_t a : s.negatives) labels[a] = 0.0;

  AnchorTargets out;
  // Host-to-device copy of the labels (A values) when the anchors are on the GPU.
  out.labels = Tensor::from_vector(labels, {A}, anchors.dtype()).to(anchors.device());
  out.deltas = encode_boxes_matched(anchors, gt_boxes, reg_match, c);
  out.positives = (int64_t)s.positives.size();
  out.negatives = (int64_t)s.negatives.size();
  return out;
}

// ---- second-stage RoI sampling ------------------------------------------------------------

RoiSamples sample_rois(const Tensor& proposals, const Tensor& gt_boxes,
                       const std::vector<int>& gt_classes, const RoiSampleParams& p, Rng& rng,
                       const BoxCoder& c) {
  const char* op = "sample_rois";
  check_boxes(op, proposals, "proposals");
  check_boxes(op, gt_boxes, "gt_boxes");
  check_same_kind(op, proposals, gt_boxes);
  const int64_t P = proposals.size(0), G = gt_boxes.size(0);
  SKINMTL_CHECK((int64_t)gt_classes.size() == G,
                op << ": " << gt_classes.size() << " gt classes for " << G << " gt boxes");
  for (size_t g = 0; g < gt_classes.size(); ++g)
    SKINMTL_CHECK(gt_classes[g] >= 1, op << ": gt class " << g << " is " << gt_classes[g]
                                         << "; classes are 1..K (0 is background)");
  SKINMTL_CHECK(p.batch_size >= 0 && p.pos_fraction >= 0 && p.pos_fraction <= 1,
                op << ": batch_size must be >= 0 and pos_fraction in [0, 1], got " << p.batch_size
                   << ", " << p.pos_fraction);
  check_gt_boxes(op, gt_boxes);

  // Candidates: the proposals, then the gt boxes themselves (on the device).
  NoGradGuard no_tape;  // constants for the losses, never on the tape
  const Tensor cand = G > 0 ? concat({proposals, gt_boxes}, 0) : proposals;
  const int64_t N = P + G;
  // IoU (N, G) on the device, then a device-to-host copy for the matching.
  std::vector<double> iou;
  if (G > 0) iou = box_iou(cand, gt_boxes).to(Device::CPU).to_vector();

  std::vector<int64_t> match((size_t)N, -1), fg, bg;
  for (int64_t i = 0; i < N; ++i) {
    double best_iou = 0;
    if (G > 0) {
      const double* row = &iou[(size_t)(i * G)];
      int64_t best = 0;
      for (int64_t g = 1; g < G; ++g)
        if (row[g] > row[best]) best = g;  // ties keep the lower gt index
      match[i] = best;
      best_iou = row[best];
    }
    if (G > 0 && best_iou >= p.fg_iou) fg.push_back(i);
    else if (best_iou >= p.bg_lo && best_iou < p.bg_hi) bg.push_back(i);
  }
  const int64_t max_fg = (int64_t)(p.batch_size * p.pos_fraction);
  fg = sample_subset(std::move(fg), max_fg, rng);
  bg = sample_subset(std::move(bg), (int64_t)p.batch_size - (int64_t)fg.size(), rng);

  std::vector<int64_t> sel = fg, reg_match;
  sel.insert(sel.end(), bg.begin(), bg.end());
  std::vector<double> classes;
  RoiSamples out;
  for (int64_t i : fg) {
    classes.push_back(gt_classes[(size_t)match[i]]);
    out.gt_index.push_back(match[i]);
    reg_match.push_back(match[i]);
  }
  for (size_t k = 0; k < bg.size(); ++k) {
    classes.push_back(0.0);
    out.gt_index.push_back(-1);
    reg_match.push_back(-1);
  }
  const int64_t S = (int64_t)sel.size();
  out.rois = gather_rows(cand, sel);
  // Host-to-device copy of the classes (S values) when the boxes are on the GPU.
  out.classes = Tensor::from_vector(classes, {S}, proposals.dtype()).to(proposals.device());
  out.deltas = encode_boxes_matched(out.rois, gt_boxes, reg_match, c);
  out.foreground = (int64_t)fg.size();
  return out;
}

}  // namespace skinmtl
