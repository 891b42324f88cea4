// figures/cam_overlay.h: the pictures of class activation maps (nets/cam.h):
// a map over the image it explains, and a row like Liao & Luo's Figure 3,
// columns A to C.
//
// The overlay: the map is upsampled to the image size (bilinear), coloured with
// viridis (io/draw.h) and blended over the image at opacity alpha (default 0.5);
// a caption band under the image gives the class name and its score.
#pragma once

#include <string>
#include <vector>

#include "framework/tensor.h"
#include "io/image.h"

namespace skinmtl {

// Bilinear resampling of an (h, w) CPU map to (out_h, out_w), float32, with the
// pixel-centre convention of io/image.h's resize (OpenCV INTER_LINEAR, PIL):
// output pixel d samples the map at s = (d + 0.5) * (in / out) - 0.5, clamped
// to [0, in - 1], so a 7 x 7 map upsampled to 224 x 224 keeps each cell's value
// at the centre of its 32 x 32 block and edges repeat. Zhou et al. upsample
// with OpenCV's resize, the same rule.
Tensor upsample_bilinear(const Tensor& map, int out_h, int out_w);

// "label 0.873": the caption of a map (score with 3 decimals).
std::string cam_caption(const std::string& label, double score);

// The image (grey or RGB, e.g. the 224 x 224 crop the network saw, before mean
// subtraction) with the map over it: the map (any size, values in [0, 1]) is
// upsampled to the image size, coloured with viridis and blended at opacity
// `alpha` in [0, 1]; below the image, a white band with cam_caption(label,
// score), wrapped onto at most two lines (cut with "..." beyond). The result is image.width wide and
// image.height + cam_caption_height(image.width) high, RGB.
Image cam_overlay(const Image& image, const Tensor& cam, const std::string& label, double score,
                  double alpha = 0.5);
// The height of the caption band of an overlay `width` pixels wide.
int cam_caption_height(int width);
// cam_overlay() written as a PNG; errors name the file.
void save_cam_overlay(const std::string& path, const Image& image, const Tensor& cam,
                      const std::string& label, double score, double alpha = 0.5);

// One map of a figure row: its (h, w) map, the class name and the score.
struct CamPanel {
  Tensor cam;
  std::string label;
  double score = 0;
};

// A row like Liao & Luo's Figure 3, columns A to C: the image itself (captioned
// `image_caption`, e.g. its true labels), then one overlay per panel (e.g. the
// lesion map, then the body-location map), side by side with a 8-pixel white
// gap. Returns the picture; save_cam_figure() writes it as a PNG.
Image cam_figure(const Image& image, const std::string& image_caption,
                 const std::vector<CamPanel>& panels, double alpha = 0.5);
void save_cam_figure(const std::string& path, const Image& image, const std::string& image_caption,
                     const std::vector<CamPanel>& panels, double alpha = 0.5);

}  // namespace skinmtl
