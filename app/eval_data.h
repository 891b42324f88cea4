// app/eval_data.h: which images `skinmtl eval segcls|detseg` score,
// and whether the paper's numbers may stand beside ours.
//
// The images come from one of
//   --data SRC [--split NAME|all] [--data-dir DIR]
//        a data set of io/seg_data.h (synthetic[:FILE], isic2017[:FILE],
//        ham10000[:FILE], a CSV); its val split by default (ham10000: its test
//        rows, which are all of it), or train, test, or every row (all; the
//        only choice for a CSV without a split column). ham10000 has no masks:
//        the evaluations score its classifications only, an external test of
//        models trained on ISIC 2017;
//   --images DIR --masks DIR [--labels CSV]
//        two folders paired by name (io/seg_folder.h): data this project never
//        saw, e.g. ISIC's official releases or PH2. Without --labels only the
//        segmentation is scored.
//
// The paper's numbers. Yang et al. (2017) and Song et al. (2019) report on
// ISIC 2017. Their numbers are printed beside ours only for the run that
// scores ISIC 2017's held-out split: --data isic2017 (the data set's own
// adapter) with the default split, val. Any other data or split is not what
// the paper measured, and a number beside it would invite a comparison that
// means nothing; the commands say so instead.
#pragma once

#include <string>
#include <vector>

#include "io/seg_data.h"
#include "app/args.h"

namespace skinmtl {

// The options above (without "--"), for Args.
extern const std::vector<std::string> kEvalDataOptions;

struct EvalSet {
  SegData data;
  std::vector<SegSample> samples;  // the images to score, in order
  std::string split;               // "val", "train", "test" or "all"; "folders" for --images/--masks
  bool paper_split = false;        // ISIC 2017's val split via --data isic2017 (see above)
  // e.g. "isic2017 (...): 2000 train / 150 val; ..., val split: 150 images"
  std::string what() const;
};

// Reads the options; errors (no C++ location) say which options go together.
EvalSet load_eval_set(const Args& args);

}  // namespace skinmtl
