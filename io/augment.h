// io/augment.h: the image transforms of training and testing (Liao & Luo 2016,
// Sec. 4, following the ResNet recipe of He et al. 2016).
//
//  - training: scale jitter (the shorter side resized to a size drawn uniformly
//    from [min_short, max_short], integers, both ends included: [256, 480] in the
//    paper), a random crop x crop window (224) anywhere inside, and a horizontal
//    flip with probability 1/2;
//  - single-crop testing: shorter side to 256, the centre 224 x 224;
//  - 10-crop testing: shorter side to `shorter`, the four corner crops and the
//    centre crop, then the same five mirrored left-right.
//
// Mean subtraction is not done here: to_tensor() does it (io/image.h), so the
// transforms stay in 8-bit pixels. All randomness comes from the skinmtl::Rng
// passed in; the loader seeds one per sample, so a run is reproducible.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "framework/random.h"
#include "io/image.h"

namespace skinmtl {

// Training: scale jitter + random crop + random horizontal flip. The random
// draws, in order: the shorter side, the crop's top, its left, the flip.
Image train_augment(const Image& image, Rng& rng, int min_short = 256, int max_short = 480,
                    int crop = 224, bool flip = true);

// Testing: resize the shorter side to `shorter`, then the centre crop x crop.
Image test_center_crop(const Image& image, int shorter = 256, int crop = 224);

// Testing with 10 crops of crop x crop from the image resized to shorter side
// `shorter`, in this order (torchvision's ten_crop):
//   0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right, 4 centre,
//   5-9 the same five, each mirrored left-right (hflip of crop k is crop k + 5).
std::vector<Image> ten_crop(const Image& image, int shorter = 256, int crop = 224);

// A transform as the loader sees it: one decoded image in, `views` images of
// out_height x out_width out (1 for training or single-crop testing, 10 for
// 10-crop testing).
struct Transform {
  std::string name;  // for messages, e.g. "train(256-480, crop 224, flip)"
  int out_height = 0, out_width = 0;
  int views = 1;
  std::function<std::vector<Image>(const Image&, Rng&)> apply;
};

Transform train_transform(int min_short = 256, int max_short = 480, int crop = 224,
                          bool flip = true);
Transform test_transform(int shorter = 256, int crop = 224);
Transform ten_crop_transform(int shorter = 256, int crop = 224);

}  // namespace skinmtl
