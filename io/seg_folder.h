// io/seg_folder.h: segmentation data from two folders, the images in one and
// their lesion masks in the other, paired by name, with the melanoma and
// seborrheic keratosis flags from an optional CSV. This is how data sets come
// that this project never saw (ISIC's official releases, PH2), and how
// `skinmtl eval segcls|detseg --images DIR --masks DIR [--labels CSV]` reads
// them.
//
// Pairing. A file's key is its name without folder and extension; a mask's key
// also drops a trailing "_segmentation" (ISIC's ground truth) or "_lesion"
// (PH2's). An image and a mask pair when their keys are equal:
//
//     images/ISIC_0000000.jpg  <->  masks/ISIC_0000000_segmentation.png   (ISIC)
//     images/IMD002.bmp        <->  masks/IMD002_lesion.bmp               (PH2)
//     images/lesion7.jpg       <->  masks/lesion7.png
//
// Image files are those named .png .jpg .jpeg .bmp .gif .tga (any case); other
// files and sub-folders are ignored (PH2 ships one folder per image: copy the
// *_Dermoscopic_Image/*.bmp and *_lesion/*.bmp files into two folders first).
// When the two folders are one, the files with a mask suffix are the masks and
// the others the images. A mask is read with io/image.h load_mask (8-bit grey,
// 1-bit or 24-bit colour; PNG, BMP, ...) and must have its image's size (that
// is checked when it is read).
//
// Labels (optional): a CSV (io/csv.h dialect) with the columns image_id,
// melanoma and seborrheic_keratosis, 0 or 1 ("0.0" and "1.0" accepted), as
// ISIC 2017's Part 3 ground truth (ISIC-2017_Validation_Part3_GroundTruth.csv)
// has them; other columns are ignored. image_id is the image's key. Every image
// needs a row; rows for other images are ignored (and counted).
//
// Errors (skinmtl::Error, no C++ location: they are the user's to fix) name the
// folder or the file and line: a folder that does not exist or holds no
// image, two files with one key, images without a mask (all of them listed,
// up to 50), a labels row that is malformed or repeated, images without a
// labels row (listed likewise). Masks without an image are not an error: they
// are counted in the description.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/seg_data.h"

namespace skinmtl {

// An image file by its extension: .png .jpg .jpeg .bmp .gif .tga, any case.
bool is_image_file_name(const std::string& path);

// The key of a mask file: ".../ISIC_0000000_segmentation.png" -> "ISIC_0000000",
// ".../IMD002_lesion.bmp" -> "IMD002", ".../x.png" -> "x".
std::string mask_file_key(const std::string& path);

// True when the file's name (without extension) ends with a mask suffix.
bool has_mask_suffix(const std::string& path);

// The image files of folder `dir` by key (mask_file_key when `masks`, else the
// stem), sorted by key; with `keep`, only the files it accepts. `option` names
// the folder in errors ("--masks"). Two files with one key, or `dir` not being
// a folder, are errors.
std::map<std::string, std::string> list_image_files(const std::string& dir, const std::string& option, bool masks,
                                                    const std::function<bool(const std::string&)>& keep = nullptr);

// "a, b, c" with at most `max` names, then ", ... and N more".
std::string name_list(const std::vector<std::string>& names, size_t max = 50);

// The images of `images_dir` paired with the masks of `masks_dir`, in key
// order, labelled from `labels_csv` ("" for none: SegData::labelled is then
// false and every flag 0). The samples are in SegData::all (id = the key,
// split ""; train and val stay empty); `where` is the image's path.
SegData read_seg_folders(const std::string& images_dir, const std::string& masks_dir,
                         const std::string& labels_csv);

}  // namespace skinmtl
