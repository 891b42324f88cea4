// nets/resnet50.h: ResNet-50 (He et al., "Deep Residual Learning for Image
// Recognition", CVPR 2016), with torchvision's parameter names.
//
//   stem:   conv 7x7/2 (3 -> 64) - BN - ReLU - max pool 3x3/2 pad 1   (N, 64, H/4, W/4)
//   layer1: 3 bottlenecks, 256 out, stride 1                           (N, 256, H/4, W/4)
//   layer2: 4 bottlenecks, 512 out, stride 2                           (N, 512, H/8, W/8)
//   layer3: 6 bottlenecks, 1024 out, stride 2                          (N, 1024, H/16, W/16)
//   layer4: 3 bottlenecks, 2048 out, stride 2                          (N, 2048, H/32, W/32)
//   global average pool (pool5)                                        (N, 2048)
//   fc 2048 -> classes (absent when classes == 0)                      (N, classes)
//
// A bottleneck: 1x1 (C -> m) - BN - ReLU - 3x3 (m -> m) - BN - ReLU -
// 1x1 (m -> 4m) - BN, plus the shortcut (identity, or 1x1 conv - BN in the
// first block of a layer), then ReLU.
//
// Where the stride of a downsampling block sits is the one difference between
// the two published variants:
//   v1   (the MSRA Caffe model, Keras' ResNet50, the model Liao & Luo fine-tune):
//        on the first 1x1 conv;
//   v1.5 (torchvision): on the 3x3 conv.
// The shortcut conv is strided in both.
//
// Keras' convolutions have biases and its batch norms epsilon 1e-3; torchvision
// has no conv biases and epsilon 1e-5. Both are options, so converted weights
// from either run unchanged.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/module.h"

namespace skinmtl {

enum class ResNetStride { V1, V1_5 };

struct ResNetConfig {
  ResNetStride stride = ResNetStride::V1;
  double bn_eps = 1e-5;
  bool conv_bias = false;  // true for Keras-converted weights
  int classes = 1000;      // 0: no fc layer (a trunk for other heads)
};

const char* resnet_stride_name(ResNetStride s);  // "v1" / "v1.5"

// The network the papers' models train: the Keras/MSRA ResNet-50 ("v1"
// strides, conv biases, BatchNorm eps 1e-3), with `classes` outputs (0: a trunk).
inline ResNetConfig keras_resnet50(int classes) {
  ResNetConfig cfg;
  cfg.stride = ResNetStride::V1;
  cfg.bn_eps = 1e-3;
  cfg.conv_bias = true;
  cfg.classes = classes;
  return cfg;
}

// A projection shortcut, named as torchvision's "downsample" Sequential: the
// 1x1 conv is child "0", its batch norm child "1".
class Shortcut : public Module {
 public:
  Shortcut(std::shared_ptr<Conv2d> conv_, std::shared_ptr<BatchNorm2d> bn_)
      : conv(register_module("0", std::move(conv_))), bn(register_module("1", std::move(bn_))) {}
  Tensor forward(const Tensor& x) { return conv_bn(*conv, *bn, x, /*relu=*/false); }
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
};

class Bottleneck : public Module {
 public:
  Bottleneck(int in_channels, int mid_channels, int stride, bool project,
             const ResNetConfig& cfg, Rng& rng);
  Tensor forward(const Tensor& x);

  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Shortcut> downsample;  // null for identity shortcuts
};

// An ordered list of blocks ("layer1" holds "0", "1", "2").
class BottleneckLayer : public Module {
 public:
  BottleneckLayer(int in_channels, int mid_channels, int blocks, int stride,
                  const ResNetConfig& cfg, Rng& rng);
  Tensor forward(const Tensor& x);
  std::vector<std::shared_ptr<Bottleneck>> blocks;
};

class ResNet50 : public Module {
 public:
  ResNet50(const ResNetConfig& cfg, Rng& rng);

  // The last convolutional feature map, before pooling: (N, 2048, H/32, W/32).
  // Class activation maps are computed from it.
  Tensor feature_map(const Tensor& x);
  // The outputs of every stage, for dense heads (FPN, U-Net decoders). With an
  // input of (N, 3, H, W) and sizes rounded up at each stride-2 step:
  //   c1 (N, 64, H/2, W/2)     stem conv - BN - ReLU, before the max pool
  //   c2 (N, 256, H/4, W/4)    layer1
  //   c3 (N, 512, H/8, W/8)    layer2
  //   c4 (N, 1024, H/16, W/16) layer3
  //   c5 (N, 2048, H/32, W/32) layer4 (= feature_map)
  struct Stages { Tensor c1, c2, c3, c4, c5; };
  Stages stages(const Tensor& x);
  // pool5: the global average of feature_map, (N, 2048).
  Tensor features(const Tensor& x);
  // Logits (N, classes); requires classes > 0.
  Tensor forward(const Tensor& x);

  // Freezes every batch norm (normalise with running statistics, as when
  // fine-tuning with small batches) or unfreezes them.
  void set_bn_frozen(bool frozen);

  const ResNetConfig& config() const { return cfg_; }

  std::shared_ptr<Conv2d> conv1;
  std::shared_ptr<BatchNorm2d> bn1;
  std::shared_ptr<BottleneckLayer> layer1, layer2, layer3, layer4;
  std::shared_ptr<Linear> fc;  // null when classes == 0

 private:
  ResNetConfig cfg_;
};

}  // namespace skinmtl
