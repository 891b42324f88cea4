// nets/resnet50_weights.h: ResNet-50 checkpoints in and out of a ResNet50
// module (nets/resnet50.h).
//
// A checkpoint is a safetensors file in torchvision's layout
// (io/resnet50_import.h lists every tensor) whose metadata describes the
// network that computes with it:
//
//   stride_placement  "v1" | "v1.5"   -> ResNetConfig::stride
//   bn_eps            "0.001"         -> ResNetConfig::bn_eps
//   conv_bias         "true"          -> ResNetConfig::conv_bias
//   num_classes       "1000"          -> ResNetConfig::classes (0 when loaded as a trunk)
//   input_channels, input_mean, input_std: how to turn pixels into the input
//   classes: the class names, logit i = classes[i]
//
// Two kinds of file load:
//  - the project's own, such as weights/resnet50_imagenet.safetensors (`make
//    weights`: Keras' ResNet50 with conv biases, BatchNorm epsilon 1e-3 and v1
//    strides, all recorded in the metadata) or one written by save_resnet50();
//  - torchvision or timm ResNet-50s saved with safetensors, which carry none of
//    these keys: io/resnet50_import.h's load_torchvision_resnet50 fills in
//    torchvision's conventions (v1.5, epsilon 1e-5, no conv biases, RGB with
//    the ImageNet mean and std) and drops "*.num_batches_tracked".
// Either way, the metadata builds the ResNetConfig and then every tensor is
// copied by name into the module with the strict checks of io/checkpoint.h:
// no module tensor left unfilled, no file tensor left unused (except fc.* when
// loading into a trunk), exact shapes.
//
// The input convention: the network's input channel c is
//     (pixel[order[c]] - input_mean[c]) / input_std[c],   pixels 0..255,
// with order = R, G, B for "rgb" and B, G, R for "bgr". Our converted Keras
// weights take RGB minus (123.68, 116.779, 103.939), std 1 (Caffe's
// convention, with the BGR order folded into conv1); torchvision's take RGB
// minus (123.675, 116.28, 103.53) divided by (58.395, 57.12, 57.375).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/image.h"
#include "io/resnet50_import.h"
#include "io/safetensors.h"
#include "nets/resnet50.h"

namespace skinmtl {

// The network a checkpoint's metadata describes. trunk: classes = 0 (no fc).
ResNetConfig resnet_config(const Resnet50Info& info, bool trunk = false);

struct LoadResNet50Options {
  // Build the network without its fc layer (classes = 0) and leave the file's
  // fc.weight / fc.bias unused: a pretrained trunk for other heads.
  bool trunk = false;
  // Seed of the initialisation the loaded values replace (irrelevant to the
  // result; the constructor needs one).
  uint64_t seed = 0;
};

// A network and what its checkpoint says.
struct LoadedResNet50 {
  std::shared_ptr<ResNet50> model;  // on the CPU, in eval mode
  Resnet50Info info;                // the configuration, input convention and class names
  std::map<std::string, std::string> metadata;  // every metadata key of the file ("source", ...)
};

// Reads a checkpoint (see the header comment) and builds the network it
// describes. Errors name the file and the tensor or key at fault.
LoadedResNet50 load_resnet50(const std::string& path, const LoadResNet50Options& opt = {});

// The same from a checkpoint already in memory (its metadata must be complete,
// as import_keras_resnet50 and load_torchvision_resnet50 leave it). `what`
// names it in errors.
LoadedResNet50 load_resnet50(const TensorFile& file, const std::string& what,
                             const LoadResNet50Options& opt = {});

// A pretrained ResNet-50 to start a new model's trunk from (the multi-task
// classifier, the segmentation model, the detector): the file's tensors, to copy
// in with load_resnet50_weights once the model is built; the trunk's config
// (classes = 0), which the new model's ResNet50 must use; and the input
// normalisation the weights expect. The file must exist and take RGB input;
// errors name it and say how to get it (`make weights`).
struct PretrainedTrunk {
  TensorFile tensors;
  ResNetConfig config;
  float mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};  // per RGB channel, pixels 0..255
  // Writes mean and std into a model's input normalisation (scale untouched).
  void set_input(Normalize& n) const {
    for (int c = 0; c < 3; ++c) {
      n.mean[c] = mean[c];
      n.std[c] = std[c];
    }
  }
};
PretrainedTrunk load_pretrained_trunk(const std::string& path);

// Loads a checkpoint into an existing network, for example the trunk of a
// bigger model. The network's stride placement, BatchNorm epsilon and conv
// biases must be the ones the metadata records (otherwise it would compute
// something else with the same tensors); a network without fc ignores the
// file's fc.*.
void load_resnet50_weights(ResNet50& model, const TensorFile& file, const std::string& what);

// Writes the network as a checkpoint that load_resnet50 reads back exactly
// (every value bit for bit). The configuration keys come from the network
// itself; the input convention and class names from `info` (its configuration
// fields are ignored), which must say input_channels "rgb" or "bgr"; `extra`
// adds free keys such as "source". The network must have its fc layer
// (classes > 0): a trunk is saved as part of the model that owns it
// (io/checkpoint.h).
void save_resnet50(const std::string& path, ResNet50& model, const Resnet50Info& info,
                   const std::map<std::string, std::string>& extra = {});

// Images of one size (RGB or grey) as the network's input, float32 (N, 3, H, W)
// on the CPU, following the input convention of `info` (see above).
Tensor resnet_input(const std::vector<Image>& images, const Resnet50Info& info);

}  // namespace skinmtl
