// io/letterbox.h: an image and its lesion mask resized together into a square
// without distortion ("letterboxing"), boxes mapped both ways, and a predicted
// mask mapped back to the source image.
//
// Song et al. (2019, Sec. III-A-1, "image size organization") feed the network
// whole images of one size: "we resize the original image proportionally to
// make the long side to be 1024, and we then pad the resized image periphery
// with zero to obtain a 1024x1024 image". Here, for a source of src_h x src_w
// and an output side `size`:
//
//     scale      = size / max(src_h, src_w)
//     content    = round(src_h * scale) x round(src_w * scale)   (>= 1 each;
//                  the long side is exactly `size`)
//     pad_y      = (size - content_h) / 2,  pad_x = (size - content_w) / 2
//                  (rounded down): the content is CENTRED, as in the Mask
//                  R-CNN code the paper builds on (its "square" resize mode),
//                  the padding split between both sides (the extra pixel of an
//                  odd split goes bottom / right);
//     padding    = 0 (black) in every channel, 0 (background) in the mask.
//
// Resampling: the image with io/image.h resize() (PIL's bilinear, pixel-centre
// convention, antialiased when shrinking). The mask with the
// SAME resize and then a threshold: lesion (255) where the resampled value is
// >= 128, else 0. On a 0/255 mask that is "lesion where more than half of the
// neighbourhood is lesion": the boundary moves by under half a pixel, is
// smoother than nearest-neighbour's staircase, and a shrunken mask keeps thin
// structures by majority rather than by whichever pixel the sampling hits.
// (The Yang model's plain resize, io/seg_augment.h resize_pair, uses nearest
// neighbour for the mask instead, as its recipe says.)
//
// Coordinates are continuous pixel coordinates: pixel (i, j) covers
// [j, j + 1) x [i, i + 1), so a half-open box (x1, y1, x2, y2) of whole pixels
// covers columns x1 .. x2 - 1. Resizing maps a continuous coordinate x to
// x * content_w / src_w (the pixel-centre convention makes resizing exactly
// this affine map), so
//
//     to letterbox:    x' = x * content_w / src_w + pad_x,   y' likewise;
//     from letterbox:  x  = (x' - pad_x) * src_w / content_w.
//
// The per-axis factors content_w / src_w and content_h / src_h are the ones
// the pixels were resized with; they differ from `scale` on the short side by
// the rounding of content (under 0.5 / short side).
//
// Masks here are 1-channel Images, lesion where the value is >= 128
// (kMaskThreshold): the ISIC masks are 0/255, and a network's probability map
// written as 0-255 grey reads the same way (p >= 0.5).
#pragma once

#include <optional>

#include "io/image.h"

namespace skinmtl {

constexpr int kMaskThreshold = 128;  // mask value >= this: lesion

struct Letterbox {
  int size = 0;        // the output side
  double scale = 1.0;  // size / max(src_h, src_w)
  int pad_x = 0, pad_y = 0;  // the content's top-left corner in the output
  int src_h = 0, src_w = 0;  // the source's size

  // The resized source inside the output: round(src * scale), at least 1.
  int content_height() const;
  int content_width() const;
};

// The geometry for a src_h x src_w source and an output side `size` (all > 0).
Letterbox letterbox_geometry(int src_h, int src_w, int size);

// The letterboxed image (size x size, the image's channels). image must be
// lb.src_h x lb.src_w.
Image letterbox_image(const Image& image, const Letterbox& lb);
// The letterboxed mask (size x size x 1, 0/255), thresholded as above. mask
// must be 1 channel, lb.src_h x lb.src_w.
Image letterbox_mask(const Image& mask, const Letterbox& lb);
// Both at once, in place; the image and mask must have the same size. Returns
// the geometry.
Letterbox letterbox_pair(Image& image, Image& mask, int size);

// A size x size mask (or 0-255 probability map) back to the source:
// lb.src_h x lb.src_w x 1, 0/255. The content window is cut out and resized
// (io/image.h resize: bilinear, antialiased when shrinking), then thresholded at 128,
// so an enlarged prediction has a smooth boundary, not nearest's blocks.
Image unletterbox_mask(const Image& mask, const Letterbox& lb);

// ---- boxes ------------------------------------------------------------------------------------

// A box in continuous pixel coordinates: [x1, x2) x [y1, y2).
struct Box {
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

// The source box in letterbox coordinates, and back (the maps above).
Box box_to_letterbox(const Box& box, const Letterbox& lb);
Box box_from_letterbox(const Box& box, const Letterbox& lb);

// The tight box of the lesion pixels (value >= threshold) of a 1-channel mask,
// half-open: x1 = the leftmost lesion column, x2 = the rightmost + 1 (the
// convention of io/synthetic.h SynthBox). No lesion pixel: empty optional.
std::optional<Box> mask_box(const Image& mask, int threshold = kMaskThreshold);

// 0/255 from any 1-channel mask: 255 where value >= threshold.
Image binarize_mask(const Image& mask, int threshold = kMaskThreshold);

}  // namespace skinmtl
