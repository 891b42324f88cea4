// nets/classify.h: one photograph through an ImageNet classifier, as
// `skinmtl classify` does it (and its tests check).
//
//   image --(shorter side to `resize`, centre `crop` x `crop`; io/augment.h's
//            test_center_crop, the standard single-crop ImageNet evaluation)-->
//   pixels --(the checkpoint's input convention; resnet_input)-->
//   (1, 3, crop, crop) --(ResNet-50 in eval mode, no autograd tape)--> logits
//   --softmax--> probabilities --> the k most probable classes.
#pragma once

#include <string>
#include <vector>

#include "io/image.h"
#include "io/resnet50_import.h"
#include "nets/resnet50.h"

namespace skinmtl {

struct ClassScore {
  int index = 0;             // the logit's index
  std::string name;          // its class name for display (see display_class_name), or "class 207"
  double probability = 0;    // softmax probability
};

// A class name as people read it: underscores become spaces
// ("great_white_shark" -> "great white shark").
std::string display_class_name(const std::string& name);

// The k largest probabilities, most probable first; equal probabilities in
// index order. `names` may be empty (then "class <index>") or hold one name per
// class. k is capped at the number of classes.
std::vector<ClassScore> top_k(const std::vector<double>& probabilities,
                              const std::vector<std::string>& names, int k);

// Softmax probabilities of one image (see the pipeline above). The network
// must be in eval mode; the input goes to the device its weights are on.
std::vector<double> classify_probabilities(ResNet50& model, const Resnet50Info& info,
                                           const Image& image, int resize = 256, int crop = 224);

}  // namespace skinmtl
