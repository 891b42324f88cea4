#include "nets/resnet50.h"

namespace skinmtl {

const char* resnet_stride_name(ResNetStride s) { return s == ResNetStride::V1 ? "v1" : "v1.5"; }

Bottleneck::Bottleneck(int in_channels, int mid, int stride, bool project, const ResNetConfig& cfg,
                       Rng& rng) {
  const bool v1 = cfg.stride == ResNetStride::V1;
  const int s1 = v1 ? stride : 1, s3 = v1 ? 1 : stride;
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in_channels, mid, 1, Conv2dParams::make(s1, 0),
                                                            cfg.conv_bias, rng));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(mid, cfg.bn_eps));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(mid, mid, 3, Conv2dParams::make(s3, 1),
                                                            cfg.conv_bias, rng));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(mid, cfg.bn_eps));
  conv3 = register_module("conv3", std::make_shared<Conv2d>(mid, 4 * mid, 1, Conv2dParams::make(1, 0),
                                                            cfg.conv_bias, rng));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(4 * mid, cfg.bn_eps));
  if (project) {
    downsample = register_module(
        "downsample",
        std::make_shared<Shortcut>(std::make_shared<Conv2d>(in_channels, 4 * mid, 1,
                                                            Conv2dParams::make(stride, 0), cfg.conv_bias, rng),
                                   std::make_shared<BatchNorm2d>(4 * mid, cfg.bn_eps)));
  }
}

// conv_bn (framework/module.h): conv -> bn (-> + shortcut) (-> ReLU), folded
// into one convolution and one pass over its output in inference.
Tensor Bottleneck::forward(const Tensor& x) {
  Tensor h = conv_bn(*conv1, *bn1, x, /*relu=*/true);
  h = conv_bn(*conv2, *bn2, h, /*relu=*/true);
  const Tensor shortcut = downsample ? downsample->forward(x) : x;
  return conv_bn(*conv3, *bn3, h, /*relu=*/true, /*residual=*/shortcut);  // relu(bn3(conv3(h)) + shortcut)
}

BottleneckLayer::BottleneckLayer(int in_channels, int mid, int n, int stride, const ResNetConfig& cfg,
                                 Rng& rng) {
  for (int i = 0; i < n; ++i) {
    const int in = i == 0 ? in_channels : 4 * mid;
    blocks.push_back(register_module(std::to_string(i), std::make_shared<Bottleneck>(
                                                            in, mid, i == 0 ? stride : 1, i == 0, cfg, rng)));
  }
}

Tensor BottleneckLayer::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& b : blocks) h = b->forward(h);
  return h;
}

ResNet50::ResNet50(const ResNetConfig& cfg, Rng& rng) : cfg_(cfg) {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(3, 64, 7, Conv2dParams::make(2, 3),
                                                            cfg.conv_bias, rng));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(64, cfg.bn_eps));
  layer1 = register_module("layer1", std::make_shared<BottleneckLayer>(64, 64, 3, 1, cfg, rng));
  layer2 = register_module("layer2", std::make_shared<BottleneckLayer>(256, 128, 4, 2, cfg, rng));
  layer3 = register_module("layer3", std::make_shared<BottleneckLayer>(512, 256, 6, 2, cfg, rng));
  layer4 = register_module("layer4", std::make_shared<BottleneckLayer>(1024, 512, 3, 2, cfg, rng));
  if (cfg.classes > 0) fc = register_module("fc", std::make_shared<Linear>(2048, cfg.classes, true, rng));
}

ResNet50::Stages ResNet50::stages(const Tensor& x) {
  SKINMTL_CHECK(x.ndim() == 4 && x.size(1) == 3, "ResNet50: input must be (N, 3, H, W), got " << x.str());
  Stages s;
  s.c1 = conv_bn(*conv1, *bn1, x, /*relu=*/true);
  s.c2 = layer1->forward(max_pool2d(s.c1, Pool2dParams::make(3, 2, 1)));
  s.c3 = layer2->forward(s.c2);
  s.c4 = layer3->forward(s.c3);
  s.c5 = layer4->forward(s.c4);
  return s;
}

Tensor ResNet50::feature_map(const Tensor& x) { return stages(x).c5; }

Tensor ResNet50::features(const Tensor& x) { return global_avg_pool2d(feature_map(x)); }

Tensor ResNet50::forward(const Tensor& x) {
  SKINMTL_CHECK(fc, "ResNet50::forward: this network was built without an fc layer (classes = 0)");
  return fc->forward(features(x));
}

void ResNet50::set_bn_frozen(bool frozen) {
  bn1->frozen = frozen;
  for (auto* layer : {layer1.get(), layer2.get(), layer3.get(), layer4.get()})
    for (auto& b : layer->blocks) {
      b->bn1->frozen = b->bn2->frozen = b->bn3->frozen = frozen;
      if (b->downsample) b->downsample->bn->frozen = frozen;
    }
}

}  // namespace skinmtl
