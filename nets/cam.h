// nets/cam.h: class activation maps (Zhou et al. 2016, "Learning Deep Features
// for Discriminative Localization", CVPR; arXiv:1512.04150), the "image
// attention" of Liao & Luo (2016), Figure 3 columns B and C.
//
// A network that ends in global average pooling and one fully connected layer
// scores class c of image n as
//     s_c = sum_k w[c, k] * mean_{y,x} f[n, k, y, x] + b_c
//         = mean_{y,x} cam_c(y, x) + b_c,   with
//     cam_c(y, x) = sum_k w[c, k] * f[n, k, y, x]                       (Zhou et al., eq. 2)
// where f (N, K, h, w) is the last convolutional feature map (ResNet-50's res5c
// output: K = 2048, h = w = 7 for a 224 x 224 input; nets/resnet50.h
// feature_map()) and w (C, K) the fc weights of the head. So cam_c says how
// much each location of the image contributes to the class score. The bias b_c
// is a constant shift of the whole map and is left out, as in Zhou et al.
//
// Liao & Luo compute it for both sibling heads of their multi-task network
// with this same function: the lesion head (sigmoid scores, eq. 4) and the
// body-location head (softmax scores, eq. 6); only the fc weights passed in
// differ. They show the map of the ground-truth class.
//
// Normalisation (as Zhou et al.'s released code does): each map is min-max
// scaled to [0, 1] on its own,
//     cam' = (cam - min cam) / (max cam - min cam),
// so the colours of an overlay are relative to that one map: its strongest
// location is 1, its weakest 0, whatever the absolute score. A constant map
// (max == min, e.g. all features zero after a ReLU) becomes all zeros.
//
//   Tensor f = net.feature_map(x).to(Device::CPU);   // (N, 2048, 7, 7); copy once per batch
//   Tensor p = sigmoid(lesion_logits).to(Device::CPU); // lesion head: sigmoid scores (N, C)
//   Tensor cam = class_activation_map(f, lesion_fc->weight->value, n, c);  // (7, 7), in [0, 1]
//   save_cam_overlay("cam.png", crop, cam, lesion_names[c], p.to_vector()[n * C + c]);  // figures/cam_overlay.h
//   // The location head: the same call with its fc weights and softmax scores.
//
// The pictures made from these maps (the overlay on the image, Figure 3's
// rows) are in figures/cam_overlay.h.
#pragma once

#include <cstdint>
#include "framework/tensor.h"

namespace skinmtl {

// The class activation map of class `cls` for image `image` of the batch:
//   feature_map (N, K, h, w), fc_weight (C, K): float32 or float64, on any
//   device (copied whole to the CPU with .to(Device::CPU), so when computing
//   many maps from one batch, move the feature map to the CPU once yourself).
// Returns an (h, w) float32 CPU tensor: min-max normalised to [0, 1] when
// `normalize` (the default), else the raw weighted sum. Accumulates in double.
// Errors: wrong ranks, K mismatch, image or class out of range, a non-finite map.
Tensor class_activation_map(const Tensor& feature_map, const Tensor& fc_weight, int64_t image,
                            int64_t cls, bool normalize = true);

// Min-max scaling of a map to [0, 1] (see the header comment), float32 CPU.
Tensor normalize_map(const Tensor& map);

// What the map functions here and the figures that draw maps
// (figures/cam_overlay.h) check and read: `map` must be a non-empty (h, w)
// CPU tensor (`what` names the caller in the error); map_value() is element i
// of a float32 or float64 one, as double.
void check_map(const char* what, const Tensor& map);
double map_value(const Tensor& map, int64_t i);

}  // namespace skinmtl
