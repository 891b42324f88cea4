// app/segcls_model.h: what `train segcls` and `eval segcls` share.
//
//  - The model file: a SegClsNet's state plus, in its metadata, everything
//    needed to rebuild and feed it ("segcls_config": tasks, trunk config,
//    decoder widths, learning-rate multipliers, input size and normalisation),
//    so `eval` needs nothing but the file.
//  - Prediction: the two probabilities and the mask probability map of every
//    sample, each image resized to the model's input size (the masks it
//    predicts are at that size; eval resizes them back to the source image's).
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/image.h"
#include "io/seg_data.h"
#include "nets/segcls.h"

namespace skinmtl {

// Everything needed to rebuild a model: stored as JSON in the metadata.
struct SegClsModelSpec {
  SegClsConfig config;
  Normalize normalize;              // the trunk's input convention (io/image.h)
  std::string input_channels = "rgb";
  int input_h = 192, input_w = 256;  // images are resized to this for training and evaluation
};
std::string segcls_spec_to_json(const SegClsModelSpec& spec);
SegClsModelSpec segcls_spec_from_json(const std::string& json, const std::string& what);
std::map<std::string, std::string> segcls_model_metadata(const SegClsModelSpec& spec);

struct SegClsModel {
  SegClsModelSpec spec;
  std::unique_ptr<SegClsNet> net;
};
// A new model: the trunk from `weights` (a converted ImageNet ResNet-50 whose
// metadata sets stride placement, BN epsilon, conv biases and the input
// convention), or random ("none"); the new layers drawn from `seed`.
// spec.config.trunk and spec.normalize are filled in from the weights.
SegClsModel new_segcls_model(SegClsModelSpec spec, const std::string& weights, uint64_t seed);
// A trained model from its file (a model file or a training checkpoint).
SegClsModel load_segcls_model(const std::string& path);

// Test-time augmentation for predict_segcls. kNone: each image once, as it
// is. kFlips: four passes (as is, mirrored left-right, upside down, both: the
// orientations random_flips trains on), each pass's probabilities mirrored
// back to the image's orientation, then their mean (probabilities, not
// logits, are averaged; the mask map pixel by pixel).
enum class SegClsTta { kNone, kFlips };
SegClsTta parse_segcls_tta(const std::string& name);  // "none" | "flips"; anything else is a usage error
const char* segcls_tta_name(SegClsTta tta);
// The passes a kind of test-time augmentation makes per image.
int segcls_tta_passes(SegClsTta tta);

// The predictions for a list of samples (in list order), each image resized to
// the model's input size (yang_test_transform), with the test-time
// augmentation `tta`.
struct SegClsPredictions {
  std::vector<double> melanoma, sk;  // [N] sigmoid probabilities; empty without the heads
  // [N] the mask probability p of every pixel at the input size, as a
  // 1-channel image holding round(255 p) (so p >= 0.5 <=> value >= 128, the
  // masks' lesion threshold); empty without the decoder.
  std::vector<Image> masks;
  // [N] the true masks resized as the images were (0/255), when asked for.
  std::vector<Image> truth;
  // Mean losses over the samples (NaN for terms the model lacks); total as
  // SegClsNet::loss weighs them. Of the plain pass only, whatever `tta`: the
  // model's loss on the images as they are.
  double total_loss = 0, seg_loss = NAN, jaccard_loss = NAN, melanoma_loss = NAN, sk_loss = NAN;
};
SegClsPredictions predict_segcls(SegClsNet& net, const std::vector<SegSample>& samples, const SegClsModelSpec& spec,
                                 const SegClsLossWeights& weights, Device device, int batch, int threads,
                                 bool keep_truth, bool show_progress, SegClsTta tta = SegClsTta::kNone);

// "192x256" -> (192, 256): height x width, as the ISIC 2017 images here are
// 192 high and 256 wide.
void parse_size(const std::string& text, int* height, int* width);

}  // namespace skinmtl
