// app/mtl_training.h: the Liao & Luo (2016) multi-task classifier as a
// TrainingModel (app/training_run.h): its data (io/manifest.h, a group-aware
// fold held out), its forward and loss (nets/mtl_classifier.h: sigmoid
// cross-entropy over the lesion types, softmax cross-entropy over the body
// locations), and its held-out evaluation (a centre crop; mAP-class,
// mAP-image, top-1 and top-3 location accuracy).
//
// The augmentation is the paper's: scale jitter (the shorter side drawn in
// [min_short, max_short]), a random crop, horizontal flips (io/augment.h).
#pragma once

#include <memory>

#include "app/args.h"
#include "app/data_parallel.h"
#include "app/training_run.h"
#include "nets/mtl_classifier.h"

namespace skinmtl {

struct MtlTrainingOptions {
  MtlTasks tasks = MtlTasks::Both;
  int min_short = 256, max_short = 480, crop = 224;
};

// Reads the data that `args` names (app/mtl_model.h kMtlDataOptions) and builds
// the model (pretrained trunk from options.weights, new heads from the seed).
std::unique_ptr<TrainingModel> make_mtl_training(const Args& args, const TrainingOptions& options,
                                                 const MtlTrainingOptions& mtl);

}  // namespace skinmtl
