#include "nets/detseg.h"

#include <algorithm>
#include <cmath>

#include "framework/autograd.h"
#include "framework/precision.h"
#include "framework/trace.h"
#include "kernels/boxes.h"

namespace skinmtl {

namespace {

// A CPU float32 tensor from host values, moved to `device`.
Tensor host_tensor(const std::vector<float>& v, const Shape& shape, Device device) {
  return Tensor::from_vector(v, shape, DType::F32).to(device);
}

// The ground-truth boxes (G, 4) and classes (G) of image b, G = 0 or 1: one
// lesion per image, none when its box row is -1s (an empty mask). On the
// host: the matching and sampling run there.
struct ImageTruth {
  Tensor boxes;              // (G, 4), CPU
  std::vector<int> classes;  // (G) 1 benign, 2 malignant
};

ImageTruth image_truth(const std::vector<double>& boxes, const std::vector<double>& malignant, int64_t b) {
  const double x1 = boxes[4 * b], y1 = boxes[4 * b + 1], x2 = boxes[4 * b + 2], y2 = boxes[4 * b + 3];
  ImageTruth t;
  if (x1 >= 0 && y1 >= 0 && x2 > x1 && y2 > y1) {
    t.boxes = Tensor::from_vector(std::vector<float>{(float)x1, (float)y1, (float)x2, (float)y2}, {1, 4});
    t.classes = {malignant[b] > 0.5 ? 2 : 1};
  } else {
    t.boxes = Tensor::zeros({0, 4});
  }
  return t;
}

// Rows (R, 4) of boxes of image b as RoIs (R, 5): [b, x1, y1, x2, y2], on the CPU.
void append_rois(std::vector<float>& rois, const std::vector<double>& boxes, int64_t b) {
  for (size_t i = 0; i + 3 < boxes.size(); i += 4) {
    rois.push_back((float)b);
    for (int k = 0; k < 4; ++k) rois.push_back((float)boxes[i + k]);
  }
}

// The RPN's outputs read to the host at once: logits (B, A) and deltas (B, A,
// 4), levels concatenated. On the GPU this is the one wait for the device
// before the heads (the proposals need the objectness of every anchor); the
// second copy starts when the first has drained the queue, so it waits for
// nothing but itself.
struct HostRpnOutputs {
  Tensor logits, deltas;
  std::vector<int64_t> level_sizes;  // A_l per level
};

HostRpnOutputs read_rpn_outputs(const Tensor& logits, const Tensor& deltas, const std::vector<Tensor>& anchors) {
  HostRpnOutputs h;
  // Device-to-host copies of B x A and B x A x 4 values when on the GPU.
  h.logits = logits.detach().to(Device::CPU);
  h.deltas = deltas.detach().to(Device::CPU);
  for (const Tensor& a : anchors) h.level_sizes.push_back(a.size(0));
  return h;
}

// Image b's outputs per level, in anchor order: logits (A_l) and deltas (A_l,
// 4), views of the host copies.
void image_rpn_outputs(const HostRpnOutputs& h, int64_t b, std::vector<Tensor>& logits, std::vector<Tensor>& deltas) {
  logits.clear();
  deltas.clear();
  const Tensor lg = reshape(slice(h.logits, 0, b, b + 1), {-1}), dl = reshape(slice(h.deltas, 0, b, b + 1), {-1, 4});
  int64_t first = 0;
  for (int64_t n : h.level_sizes) {
    logits.push_back(slice(lg, 0, first, first + n));
    deltas.push_back(slice(dl, 0, first, first + n));
    first += n;
  }
}

// Bilinear sample of an m x m map at continuous map coordinates (u, v), pixel
// centres at integers, edges extended (PyTorch's align_corners = False).
float bilinear(const float* map, int m, double u, double v) {
  u = std::min(std::max(u, 0.0), (double)(m - 1));
  v = std::min(std::max(v, 0.0), (double)(m - 1));
  const int x0 = (int)std::floor(u), y0 = (int)std::floor(v);
  const int x1 = std::min(x0 + 1, m - 1), y1 = std::min(y0 + 1, m - 1);
  const double fx = u - x0, fy = v - y0;
  const double top = map[y0 * m + x0] * (1 - fx) + map[y0 * m + x1] * fx;
  const double bot = map[y1 * m + x0] * (1 - fx) + map[y1 * m + x1] * fx;
  return (float)(top * (1 - fy) + bot * fy);
}

// The pyramid as the heads' RoIAlign reads it: RoIAlign has no bfloat16
// kernel and widens what it is given (framework/precision.h). Under
// --precision bf16 the levels are widened here, once for both heads, rather
// than in each head's RoIAlign call: at 1024 x 1024 and batch 2 a call widens
// about 180 MB, and its backward narrows as much. In float32, the levels
// themselves.
std::vector<Tensor> pyramid_for_heads(const std::vector<Tensor>& P) {
  std::vector<Tensor> levels;
  levels.reserve(P.size());
  for (const Tensor& t : P) levels.push_back(as_f32(t));
  return levels;
}

}  // namespace

const char* detseg_cls_loss_name(DetSegClsLoss l) {
  switch (l) {
    case DetSegClsLoss::Focal: return "focal";
    case DetSegClsLoss::CrossEntropy: return "ce";
  }
  return "?";
}

bool parse_detseg_cls_loss(const std::string& name, DetSegClsLoss* out) {
  for (DetSegClsLoss l : {DetSegClsLoss::Focal, DetSegClsLoss::CrossEntropy})
    if (name == detseg_cls_loss_name(l)) {
      *out = l;
      return true;
    }
  return false;
}

BoxCoder roi_box_coder() {
  BoxCoder c;
  c.wx = c.wy = 10;
  c.ww = c.wh = 5;
  return c;
}

DetSegNet::DetSegNet(const DetSegConfig& cfg, Rng& rng) : cfg_(cfg) {
  cfg_.backbone.classes = 0;
  cfg_.rpn.channels = cfg.channels;
  cfg_.heads.channels = cfg.channels;
  SKINMTL_CHECK(cfg_.rpn.anchor_sizes.size() == 5, "DetSegNet: one anchor size per level P2 .. P6 (5), got "
                                                       << cfg_.rpn.anchor_sizes.size());
  SKINMTL_CHECK(cfg_.heads.num_classes == 3, "DetSegNet: the classes are background, benign, malignant (3)");
  backbone = register_module("backbone", std::make_shared<ResNet50>(cfg_.backbone, rng));
  FpnConfig fc;
  fc.channels = cfg.channels;
  fpn = register_module("fpn", std::make_shared<FPN>(fc, rng));
  rpn = register_module("rpn", std::make_shared<RPNHead>(cfg_.rpn, rng));
  roi_heads = register_module("roi_heads", std::make_shared<RoiHeads>(cfg_.heads, rng));
}

void DetSegNet::set_score_thresh(double t) {
  SKINMTL_CHECK(t >= 0, "DetSegNet: the score threshold must be >= 0, got " << t);
  cfg_.score_thresh = t;
}

ImageScore image_score_from_name(const std::string& name) {
  if (name == "top") return ImageScore::Top;
  SKINMTL_USAGE_CHECK(name == "vote", "the image score must be top (the top RoI's, the paper's) or vote (the RoIs "
                                      "around it), got '" << name << "'");
  return ImageScore::Vote;
}

const char* image_score_name(ImageScore s) { return s == ImageScore::Vote ? "vote" : "top"; }

double image_malignancy(const double* probs, const float* rois, int64_t R, int64_t best, ImageScore s,
                        double min_iou) {
  SKINMTL_CHECK(best >= 0 && best < R, "image_malignancy: the top RoI " << best << " is not among " << R);
  double mal = probs[3 * best + 2], fg = probs[3 * best + 1] + probs[3 * best + 2];
  if (s == ImageScore::Vote) {
    mal = fg = 0;
    for (int64_t i = 0; i < R; ++i)
      if (i == best || box_iou_elem(rois + 5 * best + 1, rois + 5 * i + 1) >= min_iou) {
        mal += probs[3 * i + 2];
        fg += probs[3 * i + 1] + probs[3 * i + 2];
      }
  }
  return fg > 0 ? mal / fg : 0.5;
}

const DetSegNet::HostAnchors& DetSegNet::host_anchors(const std::vector<Tensor>& P) {
  std::vector<int64_t> sizes;
  for (const Tensor& p : P) sizes.insert(sizes.end(), {p.size(2), p.size(3)});
  if (sizes != anchors_.sizes || !anchors_.all.defined()) {
    anchors_.sizes = sizes;
    anchors_.levels = rpn->anchors(P, Device::CPU);
    anchors_.all = concat(anchors_.levels, 0);
  }
  return anchors_;
}

std::vector<Tensor> DetSegNet::features(const Tensor& images) {
  SKINMTL_CHECK(images.ndim() == 4 && images.size(1) == 3,
                "DetSegNet: images must be (N, 3, S, S), got " << images.str());
  return fpn->forward(backbone->stages(images));
}

DetSegLosses DetSegNet::loss(const Tensor& images, const DetSegTargets& t, Rng& rng) {
  SKINMTL_CHECK(images.ndim() == 4 && images.size(0) >= 1, "DetSegNet::loss: images must be (N, 3, S, S), got "
                                                               << images.str());
  const Device dev = images.device();
  const int64_t B = images.size(0), H = images.size(2), W = images.size(3);
  SKINMTL_CHECK(t.boxes.defined() && t.boxes.shape() == Shape({B, 4}) && t.boxes.device() == Device::CPU,
                "DetSegNet::loss: boxes must be (" << B << ", 4) on the CPU, got "
                                                   << (t.boxes.defined() ? t.boxes.str() : "undefined"));
  SKINMTL_CHECK(t.malignant.defined() && t.malignant.numel() == B && t.malignant.device() == Device::CPU,
                "DetSegNet::loss: malignant must hold " << B << " values on the CPU");
  SKINMTL_CHECK(t.masks.defined() && t.masks.shape() == Shape({B, 1, H, W}) && t.masks.device() == dev,
                "DetSegNet::loss: masks must be (" << B << ", 1, " << H << ", " << W << ") on "
                                                   << device_name(dev) << ", got "
                                                   << (t.masks.defined() ? t.masks.str() : "undefined"));
  const std::vector<double> gt_box = t.boxes.to_vector(), gt_mal = t.malignant.to_vector();
  std::vector<ImageTruth> truth;
  for (int64_t b = 0; b < B; ++b) truth.push_back(image_truth(gt_box, gt_mal, b));

  // On a GPU the iteration waits for the device before the heads: once for
  // its queue to drain, to read the RPN's outputs for the proposals (two
  // copies, the second waiting for nothing but itself), then once per image
  // for the NMS's kept boxes (a short wait: the queue holds the NMS alone).
  // Everything else the host
  // decides (the RPN's targets, the proposals but their NMS, the RoI
  // samples) is worked out on the host, and only what the losses need goes
  // up: the indices and targets of 256 sampled anchors per image rather than
  // dense arrays over all of them.

  // ---- backbone, FPN, RPN ----
  // (TraceRange and TracePhase name the iteration's phases for profilers: framework/trace.h.)
  std::vector<Tensor> P;
  {
    TraceRange phase("backbone + FPN");
    P = features(images);
  }
  Tensor logits, deltas;
  {
    TraceRange phase("RPN head");
    const RPNHead::Output r = rpn->forward(P);
    std::vector<Tensor> flat_logits, flat_deltas;  // per level (B, A_l), (B, A_l, 4)
    for (size_t l = 0; l < P.size(); ++l) {
      flat_logits.push_back(rpn_flatten_logits(r.logits[l]));
      flat_deltas.push_back(rpn_flatten_deltas(r.deltas[l]));
    }
    logits = concat(flat_logits, 1);  // (B, A)
    deltas = concat(flat_deltas, 1);  // (B, A, 4)
  }
  // The anchors on the host, where the targets and proposals are made (once
  // per pyramid size). From here to the read of the RPN's outputs the host
  // works while the device runs the backbone.
  const HostAnchors& host = host_anchors(P);
  const std::vector<Tensor>& anchors = host.levels;
  const Tensor& anchors_all = host.all;
  const int64_t A = anchors_all.size(0);

  DetSegLosses out;
  // ---- RPN loss (eqs. 1-3) over the sampled anchors ----
  {
    std::vector<int64_t> sampled, positive;  // rows of the (B * A) flattened outputs
    std::vector<float> label, box_target;     // per sampled row; (positives, 4)
    {
      TraceRange phase("RPN targets (host)");
      for (int64_t b = 0; b < B; ++b) {
        const SampledAnchors s = sample_anchors(anchors_all, truth[b].boxes, H, W, cfg_.anchor_targets, rng);
        for (int64_t i : s.positives) {
          sampled.push_back(b * A + i);
          label.push_back(1.0f);
          positive.push_back(b * A + i);
        }
        for (int64_t i : s.negatives) {
          sampled.push_back(b * A + i);
          label.push_back(0.0f);
        }
        if (!s.positives.empty()) {
          // encode(anchor, matched gt) for the positives (the RPN's unit coder).
          const std::vector<double> d =
              encode_boxes(gather_rows(anchors_all, s.positives), gather_rows(truth[b].boxes, s.matched)).to_vector();
          box_target.insert(box_target.end(), d.begin(), d.end());
        }
      }
    }
    TraceRange phase("RPN losses");
    const int64_t S = (int64_t)sampled.size(), Pos = (int64_t)positive.size();
    out.sampled_anchors = S;
    out.positive_anchors = Pos;
    const double n = (double)std::max<int64_t>(S, 1);
    out.rpn_cls = scale(sigmoid_focal_loss(take_rows(reshape(logits, {B * A}), sampled), host_tensor(label, {S}, dev),
                                           Tensor::ones({S}, DType::F32, dev), cfg_.focal_alpha, cfg_.focal_gamma),
                        1.0 / n);
    out.rpn_reg = scale(smooth_l1_loss(take_rows(reshape(deltas, {B * A, 4}), positive),
                                       host_tensor(box_target, {Pos, 4}, dev), Tensor::ones({Pos, 4}, DType::F32, dev),
                                       cfg_.smooth_l1_beta),
                        cfg_.rpn_reg_weight / n);
  }

  // ---- proposals and sampled RoIs (constants for the heads), on the host ----
  std::vector<float> rois_host, classes_host, roi_deltas_host, fg_rois_host;
  {
    NoGradGuard no_grad;
    TracePhase phase("RPN outputs to the host");
    const HostRpnOutputs rpn_out = read_rpn_outputs(logits, deltas, anchors);
    std::vector<Tensor> lg, dl;
    for (int64_t b = 0; b < B; ++b) {
      image_rpn_outputs(rpn_out, b, lg, dl);
      phase.next("proposals");
      // The NMS on the model's device (on a GPU, its bitmask kernel).
      const Proposals prop = generate_proposals(anchors, lg, dl, H, W, cfg_.train_proposals, dev);
      phase.next("RoI samples (host)");
      const RoiSamples s =
          sample_rois(prop.boxes, truth[b].boxes, truth[b].classes, cfg_.roi_sample, rng, roi_box_coder());
      const std::vector<double> boxes = s.rois.to_vector(), cls = s.classes.to_vector(), d = s.deltas.to_vector();
      append_rois(rois_host, boxes, b);
      roi_deltas_host.insert(roi_deltas_host.end(), d.begin(), d.end());
      for (size_t i = 0; i < cls.size(); ++i) {
        classes_host.push_back((float)cls[i]);
        if (cls[i] > 0.5) {
          fg_rois_host.push_back((float)b);
          for (int k = 0; k < 4; ++k) fg_rois_host.push_back((float)boxes[4 * i + k]);
        }
      }
    }
  }
  const int64_t R = (int64_t)classes_host.size(), F = (int64_t)fg_rois_host.size() / 5;
  out.rois = R;
  out.foreground_rois = F;
  SKINMTL_CHECK(R > 0, "DetSegNet::loss: no RoI was sampled (no proposal and no ground truth)");

  // ---- Classify and Detect subnets ----
  // The RoIs are given on the host: RoIAlign checks them there (and copies
  // them up) instead of reading them back from the GPU, which would wait.
  const Tensor rois = Tensor::from_vector(rois_host, {R, 5});
  TracePhase phase("box head");
  const std::vector<Tensor> P_heads = pyramid_for_heads(P);
  const RoiHeads::BoxOutput box = roi_heads->box_forward(P_heads, rois);
  phase.next("box losses");
  const Tensor roi_classes = host_tensor(classes_host, {R}, dev);
  out.cls = cfg_.cls_loss == DetSegClsLoss::Focal
                ? softmax_focal_loss(box.class_logits, roi_classes, cfg_.focal_alpha, cfg_.focal_gamma)
                : softmax_cross_entropy(box.class_logits, roi_classes);
  std::vector<float> fg_weight(R * 4);
  for (int64_t i = 0; i < R; ++i)
    for (int k = 0; k < 4; ++k) fg_weight[i * 4 + k] = classes_host[i] > 0.5f ? 1.0f : 0.0f;
  out.reg = scale(smooth_l1_loss(box.deltas, host_tensor(roi_deltas_host, {R, 4}, dev), host_tensor(fg_weight, {R, 4}, dev),
                                 cfg_.smooth_l1_beta),
                  1.0 / (double)R);

  // ---- Segment subnet (eq. 5) ----
  if (F > 0) {
    const Tensor fg_rois = Tensor::from_vector(fg_rois_host, {F, 5});  // on the host, as rois
    const int m = cfg_.heads.mask_size();
    phase.next("mask head");
    const Tensor mask_logits = reshape(roi_heads->mask_forward(P_heads, fg_rois), {F, (int64_t)m * m});
    phase.next("mask targets");
    Tensor target;
    {
      // Made where the mask lies: on a GPU, no trip to the host.
      NoGradGuard no_grad;
      RoiAlignParams p;
      p.out_h = p.out_w = m;
      p.spatial_scale = 1.0;
      p.sampling_ratio = 0;  // adaptive: about one sample per mask pixel
      p.aligned = true;
      target = reshape(binarize(roi_align(t.masks, fg_rois, p), 0.5), {F, (int64_t)m * m});
    }
    // Mean per-pixel BCE: sigmoid_cross_entropy sums over the m^2 pixels and
    // averages over the RoIs.
    phase.next("mask losses");
    const Tensor bce = scale(sigmoid_cross_entropy(mask_logits, target), 1.0 / (double)(m * m));
    out.mask = add(bce, soft_jaccard_distance(sigmoid(mask_logits), target, cfg_.jaccard_smooth));
  } else {
    // No foreground RoI (every image of the batch without a lesion): the mask
    // loss is 0, but the Segment subnet still runs on one RoI with weight 0,
    // as Detectron does, so every trainable parameter gets a (zero) gradient
    // at every iteration. SGD then treats the mask head the same whether or
    // not a batch had a lesion, and a resumed run the same as one that never
    // stopped (framework/optimizer.h skips parameters without a gradient).
    phase.next("mask head");
    out.mask = scale(sum(roi_heads->mask_forward(P_heads, slice(rois, 0, 0, 1))), 0.0);
  }
  out.total = add(add(add(out.rpn_cls, out.rpn_reg), add(scale(out.cls, cfg_.cls_weight), out.reg)), out.mask);
  return out;
}

std::vector<DetSegOutput> DetSegNet::predict(const Tensor& images) {
  NoGradGuard no_grad;
  SKINMTL_CHECK(images.ndim() == 4 && images.size(0) >= 1, "DetSegNet::predict: images must be (N, 3, S, S), got "
                                                               << images.str());
  const Device dev = images.device();
  const int64_t B = images.size(0), H = images.size(2), W = images.size(3);
  const std::vector<Tensor> P = features(images);
  const RPNHead::Output r = rpn->forward(P);
  const std::vector<Tensor>& anchors = host_anchors(P).levels;
  std::vector<Tensor> flat_logits, flat_deltas;
  for (size_t l = 0; l < P.size(); ++l) {
    flat_logits.push_back(rpn_flatten_logits(r.logits[l]));
    flat_deltas.push_back(rpn_flatten_deltas(r.deltas[l]));
  }
  // Proposals of every image, as RoIs: on the host from one read of the
  // RPN's outputs, the NMS on the model's device (as in loss()).
  const HostRpnOutputs rpn_out = read_rpn_outputs(concat(flat_logits, 1), concat(flat_deltas, 1), anchors);
  std::vector<float> rois_host;
  std::vector<int64_t> first(B + 1, 0);
  std::vector<Tensor> lg, dl;
  for (int64_t b = 0; b < B; ++b) {
    image_rpn_outputs(rpn_out, b, lg, dl);
    Proposals prop = generate_proposals(anchors, lg, dl, H, W, cfg_.test_proposals, dev);
    std::vector<double> boxes = prop.boxes.to_vector();
    if (boxes.empty()) boxes = {0.0, 0.0, (double)W, (double)H};  // no proposal: the whole image
    append_rois(rois_host, boxes, b);
    first[b + 1] = first[b] + (int64_t)boxes.size() / 4;
  }
  const int64_t R = first[B];
  // RoIAlign takes the RoIs on the host (no read back); the decode below, on the device.
  const Tensor rois_on_host = Tensor::from_vector(rois_host, {R, 5}), rois = rois_on_host.to(dev);
  const std::vector<Tensor> P_heads = pyramid_for_heads(P);
  const RoiHeads::BoxOutput box = roi_heads->box_forward(P_heads, rois_on_host);
  // Both queued before the first read: one wait for the device, not two.
  const Tensor class_probs = softmax(box.class_logits);  // (R, 3)
  const Tensor refined = clip_boxes(decode_boxes(slice(rois, 1, 1, 5), box.deltas, roi_box_coder()), H, W);
  const std::vector<double> probs = class_probs.to(Device::CPU).to_vector();
  const std::vector<double> refined_host = refined.to(Device::CPU).to_vector();

  std::vector<DetSegOutput> out(B);
  std::vector<float> det_rois;
  std::vector<int64_t> det_image;
  for (int64_t b = 0; b < B; ++b) {
    int64_t best = first[b];
    for (int64_t i = first[b]; i < first[b + 1]; ++i)
      if (1.0 - probs[3 * i] > 1.0 - probs[3 * best]) best = i;
    DetSegOutput& o = out[b];
    for (int k = 0; k < 3; ++k) o.probs[k] = probs[3 * best + k];
    o.score = 1.0 - o.probs[0];
    o.malignant = image_malignancy(&probs[3 * first[b]], &rois_host[5 * first[b]], first[b + 1] - first[b],
                                   best - first[b], image_score_, cfg_.roi_sample.fg_iou);
    o.detected = o.score >= cfg_.score_thresh;
    // The refined box of a detection; the proposal itself otherwise.
    const float* src = o.detected ? nullptr : &rois_host[5 * best + 1];
    for (int k = 0; k < 4; ++k) o.box[k] = src ? src[k] : (float)refined_host[4 * best + k];
    o.mask_prob.assign((size_t)(H * W), 0.0f);
    o.mask = Image((int)H, (int)W, 1);
    if (o.detected && o.box[2] > o.box[0] && o.box[3] > o.box[1]) {
      det_rois.push_back((float)b);
      for (int k = 0; k < 4; ++k) det_rois.push_back(o.box[k]);
      det_image.push_back(b);
    }
  }

  // Segment subnet on the detections; paste each 28 x 28 mask into its box.
  const int64_t D = (int64_t)det_image.size();
  if (D > 0) {
    const int m = cfg_.heads.mask_size();
    const std::vector<double> mp =
        sigmoid(roi_heads->mask_forward(P_heads, Tensor::from_vector(det_rois, {D, 5}))).to(Device::CPU).to_vector();
    for (int64_t d = 0; d < D; ++d) {
      DetSegOutput& o = out[det_image[d]];
      std::vector<float> mask(mp.begin() + d * m * m, mp.begin() + (d + 1) * m * m);
      const double x1 = o.box[0], y1 = o.box[1], bw = o.box[2] - o.box[0], bh = o.box[3] - o.box[1];
      const int64_t j0 = std::max<int64_t>(0, (int64_t)std::floor(x1)),
                    j1 = std::min<int64_t>(W, (int64_t)std::ceil(o.box[2]));
      const int64_t i0 = std::max<int64_t>(0, (int64_t)std::floor(y1)),
                    i1 = std::min<int64_t>(H, (int64_t)std::ceil(o.box[3]));
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) {
          const double cx = j + 0.5, cy = i + 0.5;  // the pixel's centre
          if (cx < x1 || cx > o.box[2] || cy < y1 || cy > o.box[3]) continue;
          // Mask pixel (u, v) covers [u, u + 1) of the box's m x m grid, centre u + 0.5.
          const float p = bilinear(mask.data(), m, (cx - x1) / bw * m - 0.5, (cy - y1) / bh * m - 0.5);
          o.mask_prob[i * W + j] = p;
          o.mask.at((int)i, (int)j, 0) = p >= 0.5f ? 255 : 0;
        }
    }
  }
  return out;
}

// ---- training phases ---------------------------------------------------------------------------

std::vector<Parameter*> detseg_group(DetSegNet& net, DetSegGroup group) {
  switch (group) {
    case DetSegGroup::Backbone: return net.backbone->parameters();
    case DetSegGroup::Fpn: return net.fpn->parameters();
    case DetSegGroup::Rpn: return net.rpn->parameters();
    case DetSegGroup::Heads: return net.roi_heads->parameters();
  }
  return {};
}

void set_detseg_phase(DetSegNet& net, int phase) {
  SKINMTL_CHECK(phase >= 1 && phase <= 3, "set_detseg_phase: the phase must be 1, 2 or 3, got " << phase);
  const std::pair<DetSegGroup, bool> groups[] = {
      {DetSegGroup::Backbone, phase >= 3},
      {DetSegGroup::Fpn, phase >= 2},
      {DetSegGroup::Rpn, phase >= 2},
      {DetSegGroup::Heads, true},
  };
  for (const auto& [group, trains] : groups)
    for (Parameter* p : detseg_group(net, group)) {
      p->value.set_requires_grad(trains);
      // A frozen parameter must have no gradient at all: SGD skips only those
      // (a zeroed but defined gradient would still get momentum and decay).
      if (!trains) p->value.impl()->grad.reset();
    }
}

double detseg_phase_lr_factor(int phase) {
  SKINMTL_CHECK(phase >= 1 && phase <= 3, "detseg_phase_lr_factor: the phase must be 1, 2 or 3, got " << phase);
  return phase == 3 ? 0.1 : 1.0;
}

}  // namespace skinmtl
