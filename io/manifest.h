// io/manifest.h: a data set as a list of labelled images.
//
// The multi-task classifier of Liao & Luo (2016) learns two things per image:
// its lesion types (multi-label: one or more of K classes) and its body
// location (single-label: one of L classes, or unknown). A Manifest holds both
// label sets for every sample, with the class names.
//
// The project's own format is a CSV file (io/csv.h dialect) with a header:
//
//     image,lesions,location
//     images/a.jpg,melanoma,back
//     images/b.jpg,nevus;seborrheic_keratosis,face
//     /data/c.png,nevus|melanoma,
//
//   image     the image file: absolute, or relative to the manifest's folder;
//   lesions   one or more lesion labels separated by ';' or '|';
//   location  one body-site label; empty means unknown (index -1). The column
//             may be left out altogether: every location is then unknown.
// Optional columns: id (a name for the sample; default: the image path as
// written), group (samples sharing a group, e.g. images of one lesion, must stay
// in one split; default: none), mask (a segmentation mask, resolved like image).
// Other columns are ignored. Labels are trimmed of surrounding spaces.
//
// Class lists: by default the distinct labels found, sorted by name (byte
// order); or a fixed order given in ManifestOptions (then an unknown label is an
// error), which is how a validation set gets the same indices as its training
// set.
//
// Reading checks the rows, not the files: check_images() looks for missing (and
// optionally undecodable) images and reports all of them at once.
//
// Adapters read the real data sets' labels.csv files into the same Manifest:
// load_ham10000() and load_isic2017() (the copies in ../shared/data, seen from
// the repository root, are described in its README.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/tensor.h"

namespace skinmtl {

struct Sample {
  std::string image;         // path to open: the manifest's folder joined in
  std::vector<int> lesions;  // indices into Manifest::lesion_classes; distinct, sorted, >= 1
  int location = -1;         // index into Manifest::location_classes; -1 = unknown
  std::string id;            // a name for messages and result files
  std::string group;         // split group ("" = the sample is its own group)
  std::string mask;          // segmentation mask path, "" when none
  std::string where;         // "file:line" of the row it came from
};

struct Manifest {
  std::string source;  // the file it was read from
  std::vector<std::string> lesion_classes;
  std::vector<std::string> location_classes;
  std::vector<Sample> samples;

  size_t size() const { return samples.size(); }
  int num_lesion_classes() const { return (int)lesion_classes.size(); }
  int num_location_classes() const { return (int)location_classes.size(); }

  // Multi-hot lesion targets of sample i: out[k] = 1 when class k is present,
  // else 0 (num_lesion_classes() floats).
  void lesion_targets(size_t i, float* out) const;
  // All samples: (N, K) float32, multi-hot.
  Tensor lesion_targets() const;
  // All samples: (N,) float32 location indices, -1 where unknown.
  Tensor location_targets() const;

  // The samples at `indices`, in that order, with the same class lists.
  Manifest subset(const std::vector<size_t>& indices) const;
};

struct ManifestOptions {
  // Fixed class orders. Empty: the distinct labels found, sorted.
  std::vector<std::string> lesion_classes;
  std::vector<std::string> location_classes;
};

// Reads a manifest CSV (format above). Errors say "file:line: ..." for a row
// with the wrong number of fields, an empty image path, no lesion label, or a
// label outside a fixed class list.
Manifest read_manifest(const std::string& csv_path, const ManifestOptions& options = {});

// A file named in a row of the CSV file `csv_path`, as every reader here
// resolves it: absolute as written, else relative to the CSV file's folder.
// "" stays "". (For other readers of manifest-like files, e.g. io/seg_data.h.)
std::string resolve_manifest_path(const std::string& csv_path, const std::string& path);

// ---- checking the files ----------------------------------------------------

struct ImageProblem {
  size_t index;        // sample index
  std::string where;   // "file:line" of its row
  std::string path;    // the file
  std::string reason;  // "missing" or the decoder's message
};

struct ManifestCheck {
  size_t checked = 0;                      // samples looked at
  std::vector<ImageProblem> missing;       // images (or masks) that do not exist
  std::vector<ImageProblem> undecodable;   // exist but their header or ending is wrong, or
                                           // (decode=true) they fail to decode
  bool ok() const { return missing.empty() && undecodable.empty(); }
  // One line per problem, at most max_lines of them, then "... and N more".
  std::string report(size_t max_lines = 50) const;
};

// Looks for every image (and mask) file and reads its header and last bytes
// (io/image.h image_file_problem: unreadable headers, too many pixels,
// truncated JPEGs and PNGs); with decode=true also decodes each one, masks
// through load_mask (corrupt data, masks no threshold can read). In parallel
// (OpenMP); never stops at the first problem.
ManifestCheck check_images(const Manifest& manifest, bool decode = false);
// The same, throwing skinmtl::Error with the report when anything is wrong.
void require_images(const Manifest& manifest, bool decode = false);
// --skip-bad-rows: removes from `manifest` every sample that `check` (its
// check_images result) found a problem with and returns those problems, in
// row order (one per sample, the first found when a sample has two). The
// caller counts and logs them (write_skipped_rows).
std::vector<ImageProblem> drop_samples_with_problems(Manifest& manifest, const ManifestCheck& check);
// The check a training command makes before its first step: check_images,
// then either an error listing every problem and naming --skip-bad-rows, or,
// with skip_bad_rows, the samples with a problem dropped from `manifest` and
// their problems returned (empty when there are none).
std::vector<ImageProblem> require_or_drop_bad_samples(Manifest& manifest, bool skip_bad_rows);
// Writes skipped rows as CSV (where,path,reason), for the training log folder.
void write_skipped_rows(const std::string& path, const std::vector<ImageProblem>& skipped);

// ---- adapters for the real data sets -------------------------------------------

// HAM10000 (Tschandl et al. 2018), labels.csv with columns image_id, lesion_id,
// dx, localization, image (others ignored): lesions = {dx} (one of akiec, bcc,
// bkl, df, mel, nv, vasc), location = localization ("unknown" or empty -> -1),
// id = image_id, group = lesion_id.
Manifest load_ham10000(const std::string& labels_csv, const ManifestOptions& options = {});

// ISIC 2017 (Codella et al. 2018), labels.csv with columns image_id, split,
// melanoma, seborrheic_keratosis, anatom_site_general, image, mask (and
// diagnosis3, checked when present). The lesion label is "melanoma" when
// melanoma = 1, "seborrheic_keratosis" when seborrheic_keratosis = 1, else
// "nevus" (both 1 is an error); location = anatom_site_general (empty -> -1).
// split: "train", "val", or "" for every row. The default class lists are
// built from all rows of the file, whatever the split, so the train and val
// manifests share their indices.
Manifest load_isic2017(const std::string& labels_csv, const std::string& split,
                       const ManifestOptions& options = {});

}  // namespace skinmtl
