// app/segcls_training.h: the Yang et al. (2017) model, lesion segmentation
// and two binary classifications (melanoma vs the rest, seborrheic keratosis
// vs the rest) on a shared ResNet-50 (nets/segcls.h), as a TrainingModel
// (app/training_run.h).
//
// The data: train rows train, val rows are the held-out set (io/seg_data.h).
// Images are resized to the model's input size (192x256 for the ISIC 2017
// copy here) and augmented as `augment` says: by default flipped at random,
// horizontally and vertically (io/seg_augment.h yang_train_transform). The loss is the weighted sum of
// SegClsLossWeights (per-pixel BCE, an optional soft Jaccard term, the two
// BCEs). The held-out evaluation works at the input size (the masks resized
// as the images are): the mean Jaccard index and the two AUCs; `eval segcls`
// measures at each image's own size, as ISIC 2017 does.
#pragma once

#include <memory>
#include <string>

#include "app/segcls_model.h"
#include "app/training_run.h"
#include "io/seg_augment.h"

namespace skinmtl {

struct SegClsTrainingOptions {
  std::string data = "synthetic", data_dir = "../shared/data";  // load_seg_data's spec and folder
  SegClsModelSpec spec;  // tasks, decoder widths, lr multipliers, input size (the trunk's fields from the weights)
  SegClsLossWeights loss;
  YangAugment augment = YangAugment::kFlips;
};

std::unique_ptr<TrainingModel> make_segcls_training(const TrainingOptions& options, const SegClsTrainingOptions& segcls);

}  // namespace skinmtl
