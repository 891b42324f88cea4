// figures/overlay.h: a picture of one detection + segmentation result, as in Song
// et al. (2019), Fig. 4: "For each output, it consists of a probability of a
// certain class, a bounding box covering the skin lesion and the specific
// segmentation area ... The red and black contours present the segmentation
// results and the ground truth, respectively."
//
// draw_detseg_overlay() copies the image (grey becomes RGB) and draws on it,
// in this order (later on top):
//   1. the ground-truth mask's contour (black by default, the paper's colour);
//   2. the predicted mask's contour (red);
//   3. the box's outline (yellow), on the box's own outer pixels: a half-open
//      box (x1, y1, x2, y2) in pixels is framed on columns floor(x1) and
//      ceil(x2) - 1 and rows floor(y1) and ceil(y2) - 1 (clipped to the image);
//   4. the label (e.g. "melanoma 0.93": the caller formats it, detseg_label()
//      does it the usual way) in a filled tag of the box's colour, black or
//      white text (whichever reads better), sitting on the box's top-left
//      corner just above it, or inside the box's top when there is no room
//      above; at the image's top-left corner when there is no box.
// Any of the masks, the box and the label may be absent (null / "").
//
// A contour is the set of lesion pixels (>= 128) within `contour_width` steps
// (4-neighbour steps, i.e. L1 distance) of a background pixel or of the
// image's edge: it lies on the mask's boundary, inside the lesion, never on
// its interior. Width 1 is the 4-neighbour contour of io/synthetic.h's
// contact sheet. Default widths grow with the image: max(1, min(H, W) / 256)
// for lines, max(1, min(H, W) / 200) for the text scale (io/draw.h font).
#pragma once

#include <string>

#include "io/draw.h"
#include "io/image.h"

namespace skinmtl {

struct OverlayStyle {
  Rgb pred_color{230, 20, 20};    // the prediction's contour (red, as in Fig. 4)
  Rgb truth_color{0, 0, 0};       // the ground truth's contour (black, as in Fig. 4)
  Rgb box_color{255, 215, 0};     // the box and the label's tag
  int line_width = 0;             // contour and box width in pixels; 0: from the image size
  int text_scale = 0;             // label text scale; 0: from the image size
};

// The picture described above. Masks: 1 channel, the image's height and width.
Image draw_detseg_overlay(const Image& image, const Image* pred_mask, const Image* truth_mask,
                          const float* box /* x1, y1, x2, y2 or null */, const std::string& label,
                          const OverlayStyle& style = {});

// "name 0.93": the class name and its probability with two decimals.
std::string detseg_label(const std::string& name, double probability);

// The contour of a 1-channel mask (see above): 255 on contour pixels, else 0.
Image mask_contour(const Image& mask, int width = 1);

}  // namespace skinmtl
