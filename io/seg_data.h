// io/seg_data.h: the data of the segmentation models, images with a lesion
// mask and two binary labels.
//
// Two models read it: Song et al. (2019), who detect, classify and segment the
// lesion (the box is the mask's bounding box, io/letterbox.h mask_box), and
// Yang et al. (2017), who segment it and answer the two binary questions of
// ISIC 2017 Part 3: melanoma or not, seborrheic keratosis or not.
//
// A SegSample is one image with its mask and flags; SegData splits them into
// train and val. load_seg_data() reads them from one of these sources (`spec`):
//
//   "synthetic"            data/synthetic/manifest.csv, the project's synthetic
//                          set (io/synthetic.h), generated there first when it
//                          is absent (ensure_synth_dataset: 2000 images, 256 px,
//                          seed 1, the defaults of `skinmtl synth`).
//   "synthetic:FILE"       the same with FILE (a manifest.csv) in its place.
//   "isic2017"             DATA_DIR/isic2017/labels.csv (load_isic2017 of
//   "isic2017:FILE"        io/manifest.h): its split column gives train (2000)
//                          and val (150); both lists come from the one file.
//   "ham10000"             DATA_DIR/ham10000/labels.csv (load_ham10000 of
//   "ham10000:FILE"        io/manifest.h), for EVALUATION ONLY: an external
//                          test set of the two classifiers (HAM10000 is not
//                          ISIC 2017: other sources, other image ids, no
//                          masks). Every row is split "test" and has no mask
//                          (SegSample::mask empty, SegData::has_masks false);
//                          melanoma = (dx == mel); seborrheic_keratosis =
//                          (dx == bkl), HAM's "benign keratosis-like lesions",
//                          which holds the seborrheic keratoses together with
//                          solar lentigines and lichen-planus-like keratoses:
//                          the nearest label it has, and named so
//                          (SegData::sk_name). The training commands refuse it.
//   FILE (a CSV)           the generic format below.
//
// The generic CSV (the io/csv.h dialect) has a header naming at least
//
//     image,mask,melanoma,seborrheic_keratosis
//
// and optionally id and split (other columns are ignored, so the synthetic
// set's manifest.csv is such a file):
//   image, mask   files, absolute or relative to the CSV's folder; both
//                 required. A mask is a PNG (or any image load_image reads)
//                 of the image's size, lesion where its grey value >= 128.
//   melanoma, seborrheic_keratosis   0 or 1 ("0.0" and "1.0" accepted). The
//                 two are independent binary labels here (a row may have
//                 both), unlike ISIC 2017 where they exclude each other.
//   id            a name for messages and output files; default: the image's
//                 file name without folder and extension ("ISIC_0000000").
//                 Ids must be unique.
//   split         train, val or test. Training uses train and val; test rows
//                 are counted in the description and kept, with the others, in
//                 SegData::all, from which the evaluations choose (--split).
//                 Without the column every row is train and val is empty.
//
// A fourth source, two folders of images and masks paired by name with an
// optional labels CSV, is io/seg_folder.h's read_seg_folders().
//
// Errors (skinmtl::Error) name the file and line: a missing column, a wrong
// field count, an empty image or mask path, a flag other than 0/1, an unknown
// split, a repeated id. Then every image and mask file is looked for, all at
// once (io/manifest.h check_images, not decoding), and every missing one is
// reported together, with its row.
#pragma once

#include <string>
#include <vector>

#include "io/manifest.h"

namespace skinmtl {

struct SegSample {
  std::string id;     // a name: ISIC's image_id, the synthetic set's id, ...
  std::string image;  // path to open
  std::string mask;   // path to open (1 channel after load_image(mask, 1)); "" when the data has no masks
  int melanoma = 0, seborrheic_keratosis = 0;  // 0 or 1 (0 when the data has no labels)
  std::string where;  // "file:line" of the row it came from
  std::string split;  // "train", "val" or "test"; "" for a pair of folders (io/seg_folder.h)
};

struct SegData {
  // e.g. "isic2017 (../shared/data/isic2017/labels.csv): 2000 train / 150 val;
  //       melanoma 374 / 30, seborrheic_keratosis 254 / 42"
  std::string description;
  std::string kind;  // "synthetic", "isic2017", "ham10000", "csv" or "folders"
  std::vector<SegSample> train, val;
  // Every sample in the order read (for ISIC 2017: its train rows, then its
  // val rows), test rows included, each with its split.
  std::vector<SegSample> all;
  bool has_split_column = true;  // false: a CSV without one (every row is train) or folders
  bool labelled = true;          // false: folders without a labels CSV (masks only)
  bool has_masks = true;         // false: ham10000 (classification only; no training)
  std::string default_split = "val";  // what the evaluations score without --split ("test" for ham10000)
  // What the seborrheic_keratosis flag means here, for tables and reports.
  std::string sk_name = "seborrheic keratosis";
};

// The samples of split `name` (train, val or test), in order, or all of them
// ("all"). Throws when none has that split, naming the splits the data has
// and, for data without a split column, saying that --split all takes every
// row.
std::vector<SegSample> select_split(const SegData& data, const std::string& name);

// Reads `spec` (above). data_dir holds isic2017/ and ham10000/ (the callers' default is
// ../shared/data, seen from the repository root). Every image and mask file is
// then checked (io/manifest.h check_images): a problem is an error listing them
// all, unless `skipped` is given (--skip-bad-rows): then the samples with a
// problem are left out of all, train and val, and their problems returned there.
SegData load_seg_data(const std::string& spec, const std::string& data_dir,
                      std::vector<ImageProblem>* skipped = nullptr);

// Reads a generic CSV (above) without checking the files.
SegData read_seg_csv(const std::string& csv_path);

// Reads HAM10000's labels.csv as above (every row a test row without a mask),
// without checking the files.
SegData read_ham10000_seg(const std::string& labels_csv);

// For the training commands: an error naming the data when it has no masks
// (ham10000 serves evaluation only) or no training rows.
void require_training_data(const SegData& data);

// Looks for every image and mask file of `data` (every split) and throws one
// skinmtl::Error listing every missing file with its row ("source" names the
// data in the message). load_seg_data() calls it.
void require_seg_files(const SegData& data, const std::string& source);

// Every sample of `data` (every split) as a Manifest row with its image, mask,
// id and CSV line, for io/manifest.h check_images.
Manifest seg_manifest(const SegData& data, const std::string& source);

}  // namespace skinmtl
