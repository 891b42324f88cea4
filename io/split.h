// io/split.h: held-out splits that respect groups.
//
// HAM10000 has several images of one lesion (its lesion_id, the manifest's
// `group`); an honest held-out set keeps all images of a lesion on one side,
// or the model is tested on near-copies of its training images. kfold_split
// deals the groups (a sample without a group is its own group) into K folds
// of near-equal sample counts, after a seeded shuffle, and returns fold k as
// the validation part and the rest as training. Liao & Luo use 5-fold
// cross-validation; fold 0 of 5 is an 80/20 split.
//
// Dealing: groups are shuffled, then each goes to the fold with the fewest
// samples so far (ties: the lowest fold number). Deterministic in the seed.
#pragma once

#include <cstdint>

#include "io/manifest.h"

namespace skinmtl {

struct Split {
  Manifest train, val;
};

Split kfold_split(const Manifest& data, int folds, int fold, uint64_t seed);

// The fold number of every sample (size data.size()), as kfold_split deals them.
std::vector<int> kfold_assignment(const Manifest& data, int folds, uint64_t seed);

}  // namespace skinmtl
