#include "app/detseg_model.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "app/model_file.h"
#include "app/model_limits.h"
#include "io/checkpoint.h"
#include "io/resnet50_import.h"
#include "nets/resnet50_weights.h"

namespace skinmtl {

using json = nlohmann::json;

namespace {

const char* kArch = "detseg_resnet50_fpn";

json proposals_json(const ProposalParams& p) {
  return {{"pre_nms_top_n", p.pre_nms_top_n}, {"post_nms_top_n", p.post_nms_top_n}, {"nms_iou", p.nms_iou},
          {"min_size", p.min_size}};
}

ProposalParams proposals_from(const json& j) {
  ProposalParams p;
  p.pre_nms_top_n = j.at("pre_nms_top_n").get<int>();
  p.post_nms_top_n = j.at("post_nms_top_n").get<int>();
  p.nms_iou = j.at("nms_iou").get<double>();
  p.min_size = j.at("min_size").get<double>();
  return p;
}

}  // namespace

std::string detseg_spec_to_json(const DetSegSpec& s) {
  const DetSegConfig& c = s.config;
  json j = model_json(kArch, c.backbone, s.normalize, s.input_channels);
  j["channels"] = c.channels;
  j["anchor_sizes"] = c.rpn.anchor_sizes;
  j["anchor_ratios"] = c.rpn.anchor_ratios;
  j["heads"] = {{"pooled", c.heads.pooled},
                {"representation", c.heads.representation},
                {"num_classes", c.heads.num_classes},
                {"mask_pooled", c.heads.mask_pooled},
                {"mask_channels", c.heads.mask_channels},
                {"mask_convs", c.heads.mask_convs},
                {"sampling_ratio", c.heads.sampling_ratio}};
  j["anchor_targets"] = {{"pos_iou", c.anchor_targets.pos_iou},
                         {"neg_iou", c.anchor_targets.neg_iou},
                         {"batch_size", c.anchor_targets.batch_size},
                         {"pos_fraction", c.anchor_targets.pos_fraction},
                         {"allowed_border", c.anchor_targets.allowed_border}};
  j["train_proposals"] = proposals_json(c.train_proposals);
  j["test_proposals"] = proposals_json(c.test_proposals);
  j["roi_sample"] = {{"fg_iou", c.roi_sample.fg_iou},
                     {"bg_hi", c.roi_sample.bg_hi},
                     {"bg_lo", c.roi_sample.bg_lo},
                     {"batch_size", c.roi_sample.batch_size},
                     {"pos_fraction", c.roi_sample.pos_fraction}};
  j["focal_alpha"] = c.focal_alpha;
  j["focal_gamma"] = c.focal_gamma;
  j["cls_loss"] = detseg_cls_loss_name(c.cls_loss);
  j["cls_weight"] = c.cls_weight;
  j["box_canonical"] = c.heads.box_canonical;
  j["mask_canonical"] = c.heads.mask_canonical;
  j["rpn_reg_weight"] = c.rpn_reg_weight;
  j["smooth_l1_beta"] = c.smooth_l1_beta;
  j["jaccard_smooth"] = c.jaccard_smooth;
  j["score_thresh"] = c.score_thresh;
  j["classes"] = {"background", "benign", "malignant"};
  j["size"] = s.size;
  return j.dump();
}

DetSegSpec detseg_spec_from_json(const std::string& text, const std::string& what) {
  DetSegSpec s;
  DetSegConfig& c = s.config;
  read_model_json(text, what, "detseg_config", kArch, "a detect + segment model", [&](const json& j) {
    trunk_from_json(j, c.backbone);
    c.channels = j.at("channels").get<int>();
    c.rpn.anchor_sizes = j.at("anchor_sizes").get<std::vector<double>>();
    c.rpn.anchor_ratios = j.at("anchor_ratios").get<std::vector<double>>();
    const json& h = j.at("heads");
    c.heads.pooled = h.at("pooled").get<int>();
    c.heads.representation = h.at("representation").get<int>();
    c.heads.num_classes = h.at("num_classes").get<int>();
    c.heads.mask_pooled = h.at("mask_pooled").get<int>();
    c.heads.mask_channels = h.at("mask_channels").get<int>();
    c.heads.mask_convs = h.at("mask_convs").get<int>();
    c.heads.sampling_ratio = h.at("sampling_ratio").get<int>();
    const json& a = j.at("anchor_targets");
    c.anchor_targets.pos_iou = a.at("pos_iou").get<double>();
    c.anchor_targets.neg_iou = a.at("neg_iou").get<double>();
    c.anchor_targets.batch_size = a.at("batch_size").get<int>();
    c.anchor_targets.pos_fraction = a.at("pos_fraction").get<double>();
    c.anchor_targets.allowed_border = a.at("allowed_border").get<double>();
    c.train_proposals = proposals_from(j.at("train_proposals"));
    c.test_proposals = proposals_from(j.at("test_proposals"));
    const json& r = j.at("roi_sample");
    c.roi_sample.fg_iou = r.at("fg_iou").get<double>();
    c.roi_sample.bg_hi = r.at("bg_hi").get<double>();
    c.roi_sample.bg_lo = r.at("bg_lo").get<double>();
    c.roi_sample.batch_size = r.at("batch_size").get<int>();
    c.roi_sample.pos_fraction = r.at("pos_fraction").get<double>();
    c.focal_alpha = j.at("focal_alpha").get<double>();
    c.focal_gamma = j.at("focal_gamma").get<double>();
    // Absent from the files written before the focal loss: they trained with the cross-entropy.
    const std::string cls_loss = j.value("cls_loss", std::string("ce"));
    SKINMTL_CHECK(parse_detseg_cls_loss(cls_loss, &c.cls_loss),
                  "cls_loss must be focal or ce, got '" << cls_loss << "'");
    c.cls_weight = j.value("cls_weight", 1.0);  // absent before --cls-weight: 1
    // Absent before --box-canonical / --mask-canonical: Lin et al.'s 224.
    c.heads.box_canonical = j.value("box_canonical", 224.0);
    c.heads.mask_canonical = j.value("mask_canonical", 224.0);
    c.rpn_reg_weight = j.at("rpn_reg_weight").get<double>();
    c.smooth_l1_beta = j.at("smooth_l1_beta").get<double>();
    c.jaccard_smooth = j.at("jaccard_smooth").get<double>();
    c.score_thresh = j.at("score_thresh").get<double>();
    s.size = j.at("size").get<int>();
    input_from_json(j, s.normalize, s.input_channels);
    require_in_range("size", s.size, 64, kMaxModelInputSide);
    require_in_range("channels", c.channels, 1, 4096);
    require_all_in_range("anchor_sizes", c.rpn.anchor_sizes, 1, 1e5, 1, 16);
    require_all_in_range("anchor_ratios", c.rpn.anchor_ratios, 1e-3, 1e3, 1, 16);
    require_in_range("heads.pooled", c.heads.pooled, 1, 64);
    require_in_range("heads.representation", c.heads.representation, 1, 65536);
    require_in_range("heads.num_classes", c.heads.num_classes, 2, 1000);
    require_in_range("heads.mask_pooled", c.heads.mask_pooled, 1, 256);
    require_in_range("heads.mask_channels", c.heads.mask_channels, 1, 4096);
    require_in_range("heads.mask_convs", c.heads.mask_convs, 0, 32);
    require_in_range("heads.sampling_ratio", c.heads.sampling_ratio, 0, 64);
    require_in_range("cls_weight", c.cls_weight, 0, 1e4);
    require_in_range("box_canonical", c.heads.box_canonical, 1, 1e5);
    require_in_range("mask_canonical", c.heads.mask_canonical, 1, 1e5);
    require_in_range("anchor_targets.pos_iou", c.anchor_targets.pos_iou, 0, 1);
    require_in_range("anchor_targets.neg_iou", c.anchor_targets.neg_iou, 0, 1);
    require_in_range("anchor_targets.batch_size", c.anchor_targets.batch_size, 1, 1e6);
    require_in_range("anchor_targets.pos_fraction", c.anchor_targets.pos_fraction, 0, 1);
    require_in_range("anchor_targets.allowed_border", c.anchor_targets.allowed_border, -1e5, 1e5);
    for (const auto& [name, p] : {std::pair<std::string, const ProposalParams*>{"train_proposals", &c.train_proposals},
                                  {"test_proposals", &c.test_proposals}}) {
      require_in_range(name + ".pre_nms_top_n", p->pre_nms_top_n, 1, 1e6);
      require_in_range(name + ".post_nms_top_n", p->post_nms_top_n, 1, 1e6);
      require_in_range(name + ".nms_iou", p->nms_iou, 0, 1);
      require_in_range(name + ".min_size", p->min_size, 0, 1e5);
    }
    require_in_range("roi_sample.fg_iou", c.roi_sample.fg_iou, 0, 1);
    require_in_range("roi_sample.bg_hi", c.roi_sample.bg_hi, 0, 1);
    require_in_range("roi_sample.bg_lo", c.roi_sample.bg_lo, 0, 1);
    require_in_range("roi_sample.batch_size", c.roi_sample.batch_size, 1, 1e6);
    require_in_range("roi_sample.pos_fraction", c.roi_sample.pos_fraction, 0, 1);
    require_in_range("focal_alpha", c.focal_alpha, 0, 1);
    require_in_range("focal_gamma", c.focal_gamma, 0, 100);
    require_in_range("rpn_reg_weight", c.rpn_reg_weight, 0, 1e6);
    require_in_range("smooth_l1_beta", c.smooth_l1_beta, 0, 1e3);
    require_in_range("jaccard_smooth", c.jaccard_smooth, 0, 1e6);
    require_in_range("score_thresh", c.score_thresh, 0, 1);
  });
  return s;
}

std::map<std::string, std::string> detseg_model_metadata(const DetSegSpec& spec) {
  return {{"arch", kArch}, {"detseg_config", detseg_spec_to_json(spec)}};
}

DetSegModel new_detseg_model(const DetSegSpec& spec, const std::string& weights, uint64_t seed) {
  DetSegModel m;
  m.spec = spec;
  PretrainedTrunk pretrained;
  if (weights != "none") {
    pretrained = load_pretrained_trunk(weights);
    m.spec.config.backbone = pretrained.config;
    pretrained.set_input(m.spec.normalize);
  }
  Rng rng(seed);
  m.net = std::make_unique<DetSegNet>(m.spec.config, rng);
  m.spec.config = m.net->config();  // as the network normalised it (backbone.classes = 0, ...)
  if (weights != "none") load_resnet50_weights(*m.net->backbone, pretrained.tensors, weights);
  return m;
}

DetSegModel load_detseg_model(const std::string& path) {
  return load_model<DetSegModel>(path, "detseg_config", "train detseg", detseg_spec_from_json);
}

DetSegTargets detseg_targets(const SegBatch& b, Device device) {
  DetSegTargets t;
  t.boxes = b.boxes;
  t.malignant = b.melanoma;
  t.masks = b.masks.to(device);
  return t;
}

}  // namespace skinmtl
