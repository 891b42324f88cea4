// io/seg_augment.h: transforms of an image together with its lesion mask, for
// the segmentation models, and the SegTransform the segmentation loader
// (io/seg_loader.h) applies.
//
// Every geometric change is applied identically to the image and the mask, so
// the mask keeps marking the lesion's pixels; photometric changes (brightness,
// blur) touch the image only. A mask is 1 channel, lesion where >= 128
// (io/letterbox.h kMaskThreshold), and stays 0/255 through every transform
// here. The detection box is not transformed: it is recomputed from the
// transformed mask (io/letterbox.h mask_box; the loader does it).
//
// ---- Song et al. (2019), Sec. III-A-3 -------------------------------------------------------
//
// "flipping images horizontally and vertically, applying the affine
// transformation, multiplying each image with a random value between 0.8 and
// 1.5, and Gaussian blurring ... for each input image, it is selected
// randomly from six images (one original image version and five transformed
// versions) with equal probability." song_augment() does exactly one of:
//
//   0 original          unchanged;
//   1 horizontal flip   (y, x) -> (y, W - 1 - x), image and mask;
//   2 vertical flip     (y, x) -> (H - 1 - y, x), image and mask;
//   3 affine            about the image centre: rotation by an angle uniform
//                       in [-10, 10] degrees, isotropic scale uniform in
//                       [0.9, 1.1], shift uniform in [-0.05, 0.05] of the
//                       width (x) and of the height (y). The paper gives no
//                       ranges; these are mild, so the lesion stays in view.
//                       Sampled backwards (each output pixel centre mapped to
//                       the source), bilinear, pixels from outside the source
//                       0 (black, like the letterbox padding); the mask the
//                       same way and thresholded at 128;
//   4 brightness        every sample times a factor uniform in [0.8, 1.5],
//                       rounded, clamped to 255;
//   5 Gaussian blur     sigma uniform in [0.5, 2.0] pixels (the paper gives
//                       none), separable kernel of radius ceil(3 sigma),
//                       normalised, edges replicated.
//
// each with probability 1/6. The ranges are SongAugmentOptions' defaults.
// Random draws, in order: the version (randint(0, 6)), then its parameters
// (affine: angle, scale, shift x, shift y; brightness: factor; blur: sigma).
//
// ---- Yang et al. (2017) ------------------------------------------------------------------------
//
// resize_pair: the image with io/image.h resize() (bilinear; area averaging
// when shrinking more than 2x), the mask with nearest neighbour (pixel
// centres: destination pixel d takes source pixel floor((d + 0.5) * src / dst)),
// so it stays exactly 0/255 with no threshold. random_flips: a horizontal and
// a vertical flip, each with probability 1/2 (two draws, in that order).
//
// The abstract names no augmentation. YangAugment says what `train segcls`
// applies after the resize:
//
//   none    nothing;
//   flips   random_flips (the default);
//   full    random_flips, then an affine warp (as Song's version 3, with
//           YangAugmentOptions' ranges: any orientation is as likely as
//           another in dermoscopy, so the rotation is wide), then a
//           brightness factor. Draws in order: the two flips, angle, scale,
//           shift x, shift y, brightness.
#pragma once

#include <functional>
#include <string>

#include "framework/random.h"
#include "io/image.h"
#include "io/letterbox.h"

namespace skinmtl {

// ---- single operations --------------------------------------------------------------------

// Mirror top-bottom: pixel (y, x) moves to (height - 1 - y, x).
Image vflip(const Image& image);

// Every sample times `factor` (>= 0), rounded to nearest, clamped to [0, 255].
Image adjust_brightness(const Image& image, double factor);

// Gaussian blur with standard deviation `sigma` pixels (> 0), as above.
Image gaussian_blur(const Image& image, double sigma);

// The affine map about the image centre (cx, cy) = (W / 2, H / 2), in
// continuous pixel coordinates (io/letterbox.h):
//     p' = c + scale * R(angle) (p - c) + (shift_x * W, shift_y * H)
// with R the rotation by `angle_degrees` (clockwise on screen: y goes down).
struct AffineParams {
  double angle_degrees = 0, scale = 1, shift_x = 0, shift_y = 0;
};
// The image warped by the map; outside the source reads 0. A 1-channel image
// with is_mask = true is thresholded at 128 after the bilinear sampling.
Image affine_warp(const Image& image, const AffineParams& params, bool is_mask = false);

// The mask resized with nearest neighbour (see above).
Image resize_mask_nearest(const Image& mask, int out_height, int out_width);

// ---- pair transforms (image and mask of one size, changed in place) -----------------------

// Yang: image bilinear, mask nearest, both to out_height x out_width.
void resize_pair(Image& image, Image& mask, int out_height, int out_width);
// Yang: a horizontal flip with probability 1/2, then a vertical one with
// probability 1/2 (two draws). `--augment none` skips the call.
void random_flips(Image& image, Image& mask, Rng& rng);

struct SongAugmentOptions {
  double max_rotation_degrees = 10;             // angle ~ U[-max, max]
  double min_scale = 0.9, max_scale = 1.1;      // scale ~ U[min, max]
  double max_shift = 0.05;                      // shift ~ U[-max, max] x width (height)
  double min_brightness = 0.8, max_brightness = 1.5;  // the paper's range
  double min_sigma = 0.5, max_sigma = 2.0;      // blur sigma ~ U[min, max] pixels
};

enum class SongVersion { kOriginal = 0, kHFlip, kVFlip, kAffine, kBrightness, kBlur };
const char* song_version_name(SongVersion v);  // "original", "hflip", ...

// Song: one of the six versions, each with probability 1/6 (see above).
// Returns which one was applied.
SongVersion song_augment(Image& image, Image& mask, Rng& rng, const SongAugmentOptions& options = {});

enum class YangAugment { kNone, kFlips, kFull };
const char* yang_augment_name(YangAugment a);  // "none", "flips", "full"
// "none" | "flips" | "full" -> the value; false for any other text.
bool parse_yang_augment(const std::string& text, YangAugment* out);

struct YangAugmentOptions {                      // for YangAugment::kFull
  double max_rotation_degrees = 45;              // angle ~ U[-max, max]
  double min_scale = 1.0, max_scale = 1.2;       // scale ~ U[min, max]: zooming in, so the
                                                 // rotated corners show less black
  double max_shift = 0.05;                       // shift ~ U[-max, max] x width (height)
  double min_brightness = 0.8, max_brightness = 1.2;
};

// The ranges in words, e.g. "rotation +-45, scale 1-1.2, shift 0.05, brightness
// 0.8-1.2": what a training run's fingerprint records, so that a resume under a
// build with other ranges is refused rather than mixing the two.
std::string yang_augment_ranges(const YangAugmentOptions& o);

// Yang, training: the augmentation `a` after the resize (see above).
void yang_augment(Image& image, Image& mask, Rng& rng, YangAugment a, const YangAugmentOptions& options = {});

// ---- what the segmentation loader applies ---------------------------------------------------

// A pair transform as io/seg_loader.h sees it: a decoded image (RGB) and its
// mask (1 channel, the same size) in, changed in place to out_height x
// out_width. When letterbox > 0 the transform letterboxes to that side FIRST
// (letterbox_pair), and the loader records each sample's Letterbox (the
// geometry depends on the source size alone), so predictions can be mapped
// back to the source.
struct SegTransform {
  std::string name;  // for messages, e.g. "song-train(letterbox 512)"
  int out_height = 0, out_width = 0;
  int letterbox = 0;  // > 0: letterboxes to letterbox x letterbox first
  std::function<void(Image& image, Image& mask, Rng& rng)> apply;
};

// Song, training: letterbox to size x size, then song_augment.
SegTransform song_train_transform(int size = 1024, const SongAugmentOptions& options = {});
// Song, testing: letterbox to size x size only.
SegTransform song_test_transform(int size = 1024);
// Yang, training: resize_pair to height x width, then yang_augment.
SegTransform yang_train_transform(int height, int width, YangAugment augment = YangAugment::kFlips,
                                  const YangAugmentOptions& options = {});
// Yang, testing: resize_pair only.
SegTransform yang_test_transform(int height, int width);

}  // namespace skinmtl
