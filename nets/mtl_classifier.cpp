#include "nets/mtl_classifier.h"

namespace skinmtl {

const char* mtl_tasks_name(MtlTasks t) {
  switch (t) {
    case MtlTasks::Both: return "both";
    case MtlTasks::Lesion: return "lesion";
    case MtlTasks::Location: return "location";
  }
  return "?";
}

MtlTasks parse_mtl_tasks(const std::string& name) {
  if (name == "both") return MtlTasks::Both;
  if (name == "lesion") return MtlTasks::Lesion;
  if (name == "location") return MtlTasks::Location;
  SKINMTL_FAIL("tasks must be both, lesion or location, got '" << name << "'");
}

// A new head: PyTorch's Linear initialisation, Caffe's multipliers.
static std::shared_ptr<Linear> make_head(int in, int out, const MtlConfig& cfg, Rng& rng) {
  auto head = std::make_shared<Linear>(in, out, true, rng);
  head->weight->lr_mult = cfg.head_weight_lr_mult;
  head->bias->lr_mult = cfg.head_bias_lr_mult;
  head->bias->decay_mult = 0;
  return head;
}

MtlClassifier::MtlClassifier(const MtlConfig& cfg, Rng& rng) : cfg_(cfg) {
  ResNetConfig trunk_cfg = cfg.trunk;
  trunk_cfg.classes = 0;
  cfg_.trunk = trunk_cfg;
  trunk = register_module("trunk", std::make_shared<ResNet50>(trunk_cfg, rng));
  if (cfg.tasks != MtlTasks::Location) {
    SKINMTL_CHECK(cfg.lesion_classes > 0, "MtlClassifier: lesion_classes must be positive");
    lesion_head = register_module("lesion_head", make_head(2048, cfg.lesion_classes, cfg, rng));
  }
  if (cfg.tasks != MtlTasks::Lesion) {
    SKINMTL_CHECK(cfg.location_classes > 0, "MtlClassifier: location_classes must be positive");
    location_head = register_module("location_head", make_head(2048, cfg.location_classes, cfg, rng));
  }
}

MtlClassifier::Output MtlClassifier::forward(const Tensor& x) {
  Output out;
  out.feature_map = trunk->feature_map(x);
  out.features = global_avg_pool2d(out.feature_map);
  if (lesion_head) out.lesion_logits = lesion_head->forward(out.features);
  if (location_head) out.location_logits = location_head->forward(out.features);
  return out;
}

MtlClassifier::Losses MtlClassifier::loss(const Output& out, const Tensor& lesion_targets,
                                          const Tensor& location_labels) const {
  Losses l;
  if (lesion_head) l.lesion = sigmoid_cross_entropy(out.lesion_logits, lesion_targets);
  if (location_head) l.location = softmax_cross_entropy(out.location_logits, location_labels);
  l.total = l.lesion.defined() && l.location.defined() ? add(l.lesion, l.location)
            : l.lesion.defined()                        ? l.lesion
                                                        : l.location;
  return l;
}

}  // namespace skinmtl
