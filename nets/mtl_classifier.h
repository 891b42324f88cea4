// nets/mtl_classifier.h: the multi-task lesion + body-location classifier of
// Liao & Luo, "A Deep Multi-task Learning Approach to Skin Lesion
// Classification" (AAAI workshops 2017).
//
//   image (N, 3, 224, 224)
//   ResNet-50 trunk, its final FC removed                 feature map (N, 2048, 7, 7)
//   global average pool (pool5)                           (N, 2048)
//   lesion head:   FC 2048 -> P, sigmoid cross-entropy (multi-label, eq. 5)
//   location head: FC 2048 -> Q, softmax cross-entropy (one of Q, eq. 7)
//   loss = mean lesion loss + mean location loss (eq. 3); the L2 term of eq. 8
//          is the optimizer's weight decay (1e-4).
//
// The two heads are new layers: they train with lr_mult 10 on the weights and
// 20 on the biases (the paper's "10 for the weights and 20 for the bias", so
// their effective learning rate is 0.01 at a base lr of 0.001), and, as usual
// in Caffe fine-tuning prototxts, decay_mult 1 on the weights and 0 on the
// biases (the paper does not say; this is the convention).
//
// Single-task variants come from the same code: Tasks::Lesion keeps only the
// lesion head (the paper's standalone "ResNet"), Tasks::Location only the
// location head. Images with an unknown location (label -1) add nothing to the
// location loss (softmax_cross_entropy ignores them).
#pragma once

#include <memory>
#include <string>

#include "nets/resnet50.h"

namespace skinmtl {

enum class MtlTasks { Both, Lesion, Location };
const char* mtl_tasks_name(MtlTasks t);           // "both" / "lesion" / "location"
MtlTasks parse_mtl_tasks(const std::string& name);  // throws on anything else

struct MtlConfig {
  int lesion_classes = 0;    // P
  int location_classes = 0;  // Q
  MtlTasks tasks = MtlTasks::Both;
  ResNetConfig trunk;        // classes is forced to 0 (no ImageNet FC)
  float head_weight_lr_mult = 10, head_bias_lr_mult = 20;
};

class MtlClassifier : public Module {
 public:
  MtlClassifier(const MtlConfig& cfg, Rng& rng);

  struct Output {
    Tensor feature_map;      // (N, 2048, h, w): for class activation maps
    Tensor features;         // (N, 2048): pool5, for retrieval
    Tensor lesion_logits;    // (N, P), undefined without the lesion head
    Tensor location_logits;  // (N, Q), undefined without the location head
  };
  Output forward(const Tensor& x);

  struct Losses {
    Tensor total;     // shape (): the sum of the heads' losses
    Tensor lesion;    // shape (), undefined without the lesion head
    Tensor location;  // shape (), undefined without the location head
  };
  // lesion_targets (N, P) multi-hot; location_labels (N) class indices, -1 unknown.
  Losses loss(const Output& out, const Tensor& lesion_targets, const Tensor& location_labels) const;

  bool has_lesion_head() const { return lesion_head != nullptr; }
  bool has_location_head() const { return location_head != nullptr; }
  const MtlConfig& config() const { return cfg_; }

  std::shared_ptr<ResNet50> trunk;         // parameters "trunk.*"
  std::shared_ptr<Linear> lesion_head;     // "lesion_head.*"
  std::shared_ptr<Linear> location_head;   // "location_head.*"

 private:
  MtlConfig cfg_;
};

}  // namespace skinmtl
