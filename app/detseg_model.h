// app/detseg_model.h: what `train detseg` and the commands that use
// its models (predict, eval) share.
//
//  - The model file: a DetSegNet's state (nets/detseg.h) plus, in its
//    metadata, everything needed to rebuild it: "arch" = "detseg_resnet50_fpn"
//    and "detseg_config", a JSON object with the network's configuration (the
//    backbone's stride placement, BatchNorm epsilon and conv biases; the FPN
//    width; anchors; the RPN and RoI sampling settings; the head sizes; the
//    loss constants), the letterbox side it was trained at and the input
//    normalisation (per-channel mean and std, RGB). A model file or a
//    training checkpoint both load with load_detseg_model().
//  - The targets of a batch from the segmentation loader (io/seg_loader.h).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "io/image.h"
#include "io/seg_loader.h"
#include "nets/detseg.h"

namespace skinmtl {

struct DetSegSpec {
  DetSegConfig config;
  int size = 1024;  // the letterbox side the model was trained at (Song et al.: 1024)
  Normalize normalize;  // pixel * scale - mean, / std (io/image.h), RGB
  std::string input_channels = "rgb";
};

std::string detseg_spec_to_json(const DetSegSpec& spec);
// `what` names the source in errors.
DetSegSpec detseg_spec_from_json(const std::string& json, const std::string& what);
// {"arch": "detseg_resnet50_fpn", "detseg_config": the JSON}.
std::map<std::string, std::string> detseg_model_metadata(const DetSegSpec& spec);

struct DetSegModel {
  DetSegSpec spec;
  std::unique_ptr<DetSegNet> net;  // on the CPU
};

// A new model: `spec`'s configuration with the backbone from `weights` (a
// converted ImageNet ResNet-50 whose metadata sets the stride placement, BN
// epsilon, conv biases and the input normalisation, all written into the
// returned spec), or random everywhere (weights "none": spec kept as given).
DetSegModel new_detseg_model(const DetSegSpec& spec, const std::string& weights, uint64_t seed);
// A trained model from its file (a model file or a training checkpoint).
DetSegModel load_detseg_model(const std::string& path);

// The loss targets of a loader batch: boxes and melanoma flags on the CPU
// (melanoma = malignant, Song et al.'s benign / malignant task), masks on
// `device`.
DetSegTargets detseg_targets(const SegBatch& batch, Device device);

}  // namespace skinmtl
