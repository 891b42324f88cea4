// app/mtl_model.h: what `train mtl` and `eval mtl` share.
//
//  - Data: --data names a source (synthetic | ham10000[:labels.csv] |
//    isic2017[:labels.csv] | a manifest CSV), --folds/--fold/--split-seed pick
//    the group-aware held-out fold (io/split.h).
//  - The model file: a MtlClassifier's state plus, in its metadata, everything
//    needed to rebuild it ("mtl_config": tasks, class names, trunk config,
//    input normalisation), so `eval` needs nothing but the file.
//  - Prediction: scores for a manifest with a test transform (centre crop or
//    10-crop; the probabilities of a sample's crops are averaged, as in
//    Krizhevsky et al.'s 10-crop testing), pool5 features and losses.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/augment.h"
#include "io/image.h"
#include "io/manifest.h"
#include "metrics/metrics.h"
#include "nets/mtl_classifier.h"
#include "app/args.h"

namespace skinmtl {

// The options every MTL command understands for choosing data.
extern const std::vector<std::string> kMtlDataOptions;  // data, folds, fold, split-seed, data-dir

struct MtlData {
  std::string description;  // e.g. "ham10000 (4790 images), fold 0 of 5"
  Manifest all, train, val;
};
MtlData load_mtl_data(const Args& args);

// Everything needed to rebuild a model: stored as JSON in the metadata.
struct MtlModelSpec {
  MtlConfig config;
  std::vector<std::string> lesion_classes, location_classes;
  Normalize normalize;
  std::string input_channels = "rgb";
};
std::string spec_to_json(const MtlModelSpec& spec);
MtlModelSpec spec_from_json(const std::string& json, const std::string& what);

// A new model for `data`: the trunk from --weights (a converted ImageNet
// ResNet-50, whose metadata sets stride placement, BN epsilon, conv biases and
// the input convention), or random (--weights none).
struct MtlModel {
  MtlModelSpec spec;
  std::unique_ptr<MtlClassifier> net;
};
MtlModel new_mtl_model(const MtlData& data, MtlTasks tasks, const std::string& weights, uint64_t seed);
// A trained model from its file (a model file or a training checkpoint).
MtlModel load_mtl_model(const std::string& path);
std::map<std::string, std::string> mtl_model_metadata(const MtlModelSpec& spec);

// Scores of every sample of `data` (in manifest order).
struct MtlPredictions {
  std::vector<std::vector<double>> lesion;    // [N][P] sigmoid probabilities (empty without the head)
  std::vector<std::vector<double>> location;  // [N][Q] softmax probabilities (empty without the head)
  std::vector<std::vector<float>> features;   // [N][2048] pool5, averaged over the crops
  double lesion_loss = 0, location_loss = 0;  // on the first view (the centre crop)
};
MtlPredictions predict_mtl(MtlClassifier& net, const Manifest& data, const Transform& transform,
                           const Normalize& normalize, Device device, int batch, int threads,
                           bool want_features, bool show_progress);

// The paper's numbers for a set of predictions.
struct MtlMetrics {
  MapResult map_class, map_image;  // eqs. 9 and 10 (when the lesion head exists)
  double top1 = NAN, top3 = NAN;  // body location (known locations only)
  int64_t located = 0;        // images with a known location
  bool has_lesion = false, has_location = false;
};
MtlMetrics mtl_metrics(const MtlPredictions& p, const Manifest& data);
// The lesion labels of `data` as the metrics take them: [image][class], 1
// where the image has that lesion type.
LabelMatrix lesion_label_matrix(const Manifest& data);

}  // namespace skinmtl
