// app/detseg_predict.h: running a trained detect + classify +
// segment model (Song et al. 2019, nets/detseg.h) on whole images and writing
// what it finds, the part that `skinmtl predict detseg` and `skinmtl eval
// detseg` share.
//
// Per image, the steps are the test-time path of the paper (Sec. III-A-1):
//
//   source image (H x W, RGB)
//     -> letterbox to S x S (io/letterbox.h; S = the model's training side)
//     -> normalise (the model's mean / std) -> DetSegNet::predict
//     -> the top detection, in letterbox pixels: box, class probabilities,
//        S x S mask probabilities
//     -> back to the source image:
//          mask: the S x S probability map as 0-255 grey, its content window
//                resized to H x W (io/image.h resize: bilinear, antialiased
//                when shrinking) and thresholded at 128, i.e. p >= 0.5 (io/letterbox.h
//                unletterbox_mask). Resizing the probabilities rather than the
//                0/255 mask gives the smooth boundary Mask R-CNN's paste gives.
//          box:  io/letterbox.h box_from_letterbox, then clipped to the image
//                ([0, W] x [0, H]; a box can reach into the padding).
//
// The class of an image is benign or malignant (melanoma): malignant =
// p_malignant / (p_benign + p_malignant) of the top detection
// (nets/detseg.h), benign = 1 - malignant. "detected" is false when the top
// RoI's foreground score 1 - p_background is below the model's score
// threshold (0.05): the mask is then empty and the box is the best proposal's.
//
// Files written into OUT (run_detseg below):
//   masks/<name>.png     the predicted mask at the source size, 1 channel, 0/255
//   overlays/<name>.png  the picture of Song et al.'s Fig. 4 at the source size
//                        (figures/overlay.h): the predicted contour (red), the
//                        ground-truth contour (black) when the truth mask is
//                        known, the box (yellow) and the label "benign 0.87" /
//                        "malignant 0.62" (the more probable class and its
//                        probability; "(no detection)" added and no box when
//                        nothing was detected)
//   predictions.csv      image_id,malignant,benign,detected,score,x1,y1,x2,y2
//                        one row per image, in input order; the box in source
//                        pixels (continuous coordinates, half-open), score =
//                        1 - p_background, detected 0/1.
// <name> is the image's id with every character other than letters, digits,
// '.', '-' and '_' replaced by '_' (ids are file stems or ISIC image ids, so
// usually unchanged); two ids giving one name are an error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "io/letterbox.h"
#include "io/seg_folder.h"
#include "app/detseg_model.h"
#include "metrics/seg_metrics.h"

namespace skinmtl {

// One image to run on.
struct DetSegInput {
  std::string id;     // names the output files and the CSV row
  std::string image;  // path
  std::string mask;   // its ground-truth mask (path), "" when not known
};

// One image's result, in source pixels.
struct DetSegResult {
  std::string id;
  int height = 0, width = 0;      // the source image's size
  double malignant = 0.5;         // p_mal / (p_ben + p_mal)
  double benign = 0.5;            // 1 - malignant
  bool detected = false;
  double score = 0;               // 1 - p_background of the top RoI
  Box box;                        // clipped to the image
  bool has_truth = false;         // a ground-truth mask was given
  SegCounts counts;               // the mask against it (when has_truth)
  std::optional<Box> truth_box;   // the truth mask's box (io/letterbox.h mask_box); empty: no lesion
};

struct DetSegRunOptions {
  std::string out;        // the output folder (created)
  int64_t overlays = -1;  // overlays for the first N images; -1: all
  int batch = 2;          // images per network call
  Device device = Device::CPU;
  bool progress = true;   // a progress bar on stderr
  ImageScore image_score = ImageScore::Top;  // how the malignancy is read from the RoIs (nets/detseg.h)
};

// The file name (without extension) of an id: see the header comment.
std::string detseg_file_name(const std::string& id);

// Image files and mask names (is_image_file_name, mask_file_key) are
// io/seg_folder.h's.

// The label of an overlay: "malignant 0.62" or "benign 0.87" (the more
// probable of the two; malignant when exactly 0.5).
std::string detseg_result_label(const DetSegResult& r);

// Runs `model` (moved to options.device, in eval mode) on every input in
// order and writes masks/, overlays/ and predictions.csv into options.out
// (see the header comment). Each input's mask, when given, must have its
// image's size; its pixel counts against the prediction are returned.
// Errors (skinmtl::Error) name the image: a file that is missing or does not
// decode, a mask of another size, two ids with one file name.
std::vector<DetSegResult> run_detseg(DetSegModel& model, const std::vector<DetSegInput>& inputs,
                                     const DetSegRunOptions& options);

}  // namespace skinmtl
