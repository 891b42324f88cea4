// nets/fpn.h: the feature pyramid network of Lin et al., "Feature Pyramid
// Networks for Object Detection" (CVPR 2017), on the stages of a ResNet-50
// (nets/resnet50.h), as Song et al. (2019, section II-B-1) use it.
//
//   c2 (N, 256, H/4)   c3 (N, 512, H/8)   c4 (N, 1024, H/16)   c5 (N, 2048, H/32)
//        |                  |                   |                     |
//   lateral 1x1         lateral 1x1         lateral 1x1           lateral 1x1     -> C channels
//        |                  |                   |                     |
//   m2 = l2 + up(m3)    m3 = l3 + up(m4)    m4 = l4 + up(m5)      m5 = l5          (top-down)
//        |                  |                   |                     |
//   3x3 output          3x3 output          3x3 output            3x3 output
//        P2                 P3                  P4                    P5           (N, C, ...)
//                                                                     |
//                                                       P6 = max pool 1x1, stride 2 of P5
//
// C = 256 in the papers (FpnConfig::channels; tests use fewer to stay fast).
//
// Conventions where Song et al. are silent (they follow Lin et al.):
//  - up(): nearest-neighbour up-sampling (Lin et al.: "we upsample the spatial
//    resolution by a factor of 2 (using nearest neighbor upsampling for
//    simplicity)") to the lateral's exact size, not a plain 2x: with sizes
//    rounded up at each stride-2 step an odd map doubles to one pixel too many
//    (e.g. 3 -> 6 where the lateral is 5), and nearest sampling at the
//    lateral's size is what Detectron2 does (F.interpolate(size=...)).
//  - P6 for the largest anchors (RPN only, never RoI pooling): a 1x1 max pool
//    with stride 2 of P5, i.e. every other pixel of P5, as Detectron's and
//    Matterport's Mask R-CNN FPN (Lin et al. mention "a stride two subsampling
//    of P5"). Its size is ceil(P5 / 2).
//  - Laterals and outputs are convolutions with bias, no batch norm and no
//    activation (Lin et al.: "there are no non-linearities in these extra
//    layers").
//  - Initialisation: uniform U(-a, a), a = sqrt(3 / fan_in), bias 0, i.e.
//    Caffe2's XavierFill in Detectron and torchvision's kaiming_uniform_(a=1):
//    unit gain, so a sum of two branches does not blow up across four levels.
#pragma once

#include <memory>
#include <vector>

#include "framework/module.h"
#include "nets/resnet50.h"

namespace skinmtl {

struct FpnConfig {
  int channels = 256;  // C, the width of every pyramid level
  // Input widths of c2..c5 (ResNet-50's).
  std::vector<int> in_channels = {256, 512, 1024, 2048};
};

// Re-initialises a conv's weight (and zeroes its bias) with U(-a, a),
// a = sqrt(3 / fan_in), fan_in = C R S: Detectron's XavierFill. Shared by the
// FPN and the detection heads (nets/roi_heads.h).
void xavier_fill(Conv2d& conv, Rng& rng);
// The same for a fully connected layer (fan_in = its input width).
void xavier_fill(Linear& fc, Rng& rng);
// N(0, std^2) weights, zero bias: Girshick's initialisation of the RPN and the
// box predictors (std 0.01 for scores, 0.001 for box deltas).
void normal_fill(Conv2d& conv, double std, Rng& rng);
void normal_fill(Linear& fc, double std, Rng& rng);

class FPN : public Module {
 public:
  FPN(const FpnConfig& cfg, Rng& rng);

  // The pyramid of a backbone's stages: {P2, P3, P4, P5, P6}, each (N, C, h, w)
  // with h, w the sizes of c2..c5 and ceil(c5 / 2) for P6.
  std::vector<Tensor> forward(const ResNet50::Stages& stages);

  // Parameters "lateral.0.weight" ... "lateral.3.bias" (c2 .. c5) and
  // "output.0.*" ... "output.3.*" (P2 .. P5).
  std::vector<std::shared_ptr<Conv2d>> lateral, output;
  const FpnConfig& config() const { return cfg_; }

 private:
  FpnConfig cfg_;
};

// The stride of pyramid level l (P2 = 4, ..., P6 = 64): 2^l.
inline int fpn_stride(int level) { return 1 << level; }

}  // namespace skinmtl
