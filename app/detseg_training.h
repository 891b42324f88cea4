// app/detseg_training.h: the detect + classify + segment network of Song et
// al. (2019) (nets/detseg.h) with its three-phase schedule, as a
// TrainingModel (app/training_run.h).
//
// The phases (section III-B): phase 1 trains the three subnets (the RoI
// heads), phase 2 the layers from the RPN up (FPN, RPN, heads), phase 3 every
// layer at lr / 10 (nets/detseg.h set_detseg_phase). The paper trains 40, 80
// and 40 epochs of 1000 steps. The phase and its learning rate follow from
// the iteration, so a resumed run needs nothing more than the iteration.
//
// The gradient is clipped to a global norm (framework/grad_clip.h; 5 as in
// Matterport's Mask R-CNN, whose settings the paper uses: without it the large
// Jaccard term of eq. 5 throws a fresh mask head off in a few steps). The
// anchor and RoI samples of iteration i draw from an Rng seeded with (seed, i,
// rank), so a resumed run draws the samples of one that never stopped.
//
// Images are letterboxed to a square (1024 in the paper; 256 suits the ISIC
// 2017 copy here), their per-channel mean subtracted, and augmented as the
// paper says (one of six versions, io/seg_augment.h). The held-out evaluation
// gives the mean loss, the mean Jaccard index of the predicted masks against
// the letterboxed truth, and the melanoma AUC of the malignancy probability.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "app/detseg_model.h"
#include "app/training_run.h"

namespace skinmtl {

struct DetSegTrainingOptions {
  std::string data = "synthetic", data_dir = "../shared/data";  // load_seg_data's spec and folder
  DetSegSpec spec;  // size, FPN width, RoIs per image (the backbone's fields from the weights)
  bool augment = true;  // the paper's six versions; false: letterbox only
  int64_t phase1 = 40000, phase2 = 80000, phase3 = 40000;  // iterations of each phase
  double clip_norm = 5;  // 0: off
  // lr multiplier of the box branch, the layers the Classify and Detect subnets
  // own (fc6, fc7, cls_score, bbox_pred; weights and biases): 1, the paper's,
  // trains every layer at the phase's lr. The gradient is clipped to clip_norm
  // as a whole, and the Segment subnet's loss (eq. 5's delta = 100) makes most
  // of its norm, so the clip shrinks the box branch's steps along with the
  // mask's; a multiplier gives the branch, trained from scratch, longer steps
  // without changing what the other layers see (Caffe's lr_mult).
  double box_lr_mult = 1;
};

std::unique_ptr<TrainingModel> make_detseg_training(const TrainingOptions& options, const DetSegTrainingOptions& detseg,
                                                    DataParallel& dp);

}  // namespace skinmtl
