// io/seg_folder.cpp: see io/seg_folder.h for the pairing rule and the errors.
#include "io/seg_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>

#include "base/check.h"
#include "io/csv.h"

namespace fs = std::filesystem;

namespace skinmtl {

namespace {

// The suffixes a mask's name may carry after its image's key.
const char* const kMaskSuffixes[] = {"_segmentation", "_lesion"};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A 0/1 field of the labels CSV.
int flag(const CsvTable& t, size_t row, int col) {
  const std::string v = trim(t.rows[row][col]);
  if (v == "1" || v == "1.0") return 1;
  if (v == "0" || v == "0.0") return 0;
  SKINMTL_USER_FAIL(t.where(row) << ": column '" << t.header[col] << "' must be 0 or 1, got '" << v << "'");
}

}  // namespace

bool is_image_file_name(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return (char)std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".gif" || ext == ".tga";
}

bool has_mask_suffix(const std::string& path) {
  const std::string stem = fs::path(path).stem().string();
  for (const char* suffix : kMaskSuffixes)
    if (ends_with(stem, suffix)) return true;
  return false;
}

std::string mask_file_key(const std::string& path) {
  std::string stem = fs::path(path).stem().string();
  for (const std::string suffix : kMaskSuffixes)
    if (ends_with(stem, suffix)) return stem.substr(0, stem.size() - suffix.size());
  return stem;
}

std::map<std::string, std::string> list_image_files(const std::string& dir, const std::string& option, bool masks,
                                                    const std::function<bool(const std::string&)>& keep) {
  SKINMTL_USER_CHECK(fs::is_directory(dir), option << " " << dir << ": not a folder");
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string path = entry.path().string();
    if (!entry.is_regular_file() || !is_image_file_name(path) || (keep && !keep(path))) continue;
    const std::string key = masks ? mask_file_key(path) : entry.path().stem().string();
    // The key becomes an id in CSV and JSON outputs, which must be UTF-8.
    SKINMTL_USER_CHECK(find_invalid_utf8(key) == std::string::npos,
                       option << " " << dir << ": the file name '" << path
                              << "' is not UTF-8; rename the file");
    auto [it, fresh] = files.emplace(key, path);
    // Sorted, so that the message does not depend on the directory's order.
    SKINMTL_USER_CHECK(fresh, option << " " << dir << ": two " << (masks ? "masks" : "images") << " for '" << key
                                     << "': " << std::min(it->second, path) << " and " << std::max(it->second, path));
  }
  return files;
}

std::string name_list(const std::vector<std::string>& names, size_t max) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += ", ... and " + std::to_string(names.size() - max) + " more";
  return out;
}

SegData read_seg_folders(const std::string& images_dir, const std::string& masks_dir, const std::string& labels_csv) {
  // One folder for both: the files with a mask suffix are the masks, the others the images.
  std::error_code ec;
  const bool one_folder = fs::equivalent(images_dir, masks_dir, ec);
  std::function<bool(const std::string&)> is_mask = nullptr, is_image = nullptr;
  if (one_folder) {
    is_mask = [](const std::string& path) { return has_mask_suffix(path); };
    is_image = [](const std::string& path) { return !has_mask_suffix(path); };
  }
  const std::map<std::string, std::string> images = list_image_files(images_dir, "--images", false, is_image);
  const std::map<std::string, std::string> masks = list_image_files(masks_dir, "--masks", true, is_mask);
  SKINMTL_USER_CHECK(!images.empty(), "--images " << images_dir << ": no image files (.jpg, .png, .bmp, ...) in it");

  SegData d;
  d.kind = "folders";
  d.has_split_column = false;
  std::vector<std::string> unpaired;
  for (const auto& [key, path] : images) {
    const auto m = masks.find(key);
    if (m == masks.end()) {
      unpaired.push_back(fs::path(path).filename().string());
      continue;
    }
    SegSample s;
    s.id = key;
    s.image = path;
    s.mask = m->second;
    s.where = path;
    d.all.push_back(std::move(s));
  }
  SKINMTL_USER_CHECK(unpaired.empty(),
                     unpaired.size() << " of " << images.size() << " images in " << images_dir << " have no mask in "
                                     << masks_dir << " (a mask is KEY_segmentation.*, KEY_lesion.* or KEY.* for the "
                                        "image KEY.*): "
                                     << name_list(unpaired));
  const size_t extra_masks = masks.size() - d.all.size();

  std::ostringstream desc;
  desc << "folders " << images_dir << " + " << masks_dir << ": " << d.all.size() << " images with masks";
  if (extra_masks > 0) desc << " (" << extra_masks << " masks without an image ignored)";
  d.labelled = !labels_csv.empty();
  if (!d.labelled) {
    desc << "; no labels";
    d.description = desc.str();
    return d;
  }

  // Labels by image_id.
  const CsvTable t = read_csv(labels_csv);
  const int c_id = t.require_column("image_id"), c_mel = t.require_column("melanoma");
  const int c_sk = t.require_column("seborrheic_keratosis");
  std::map<std::string, size_t> row_of;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const std::string id = trim(t.rows[i][c_id]);
    SKINMTL_USER_CHECK(!id.empty(), t.where(i) << ": empty image_id");
    auto [it, fresh] = row_of.emplace(id, i);
    SKINMTL_USER_CHECK(fresh, t.where(i) << ": image_id '" << id << "' was already on line " << t.line[it->second]);
  }
  std::vector<std::string> unlabelled;
  int64_t melanoma = 0, sk = 0;
  for (SegSample& s : d.all) {
    const auto r = row_of.find(s.id);
    if (r == row_of.end()) {
      unlabelled.push_back(s.id);
      continue;
    }
    s.melanoma = flag(t, r->second, c_mel);
    s.seborrheic_keratosis = flag(t, r->second, c_sk);
    melanoma += s.melanoma;
    sk += s.seborrheic_keratosis;
  }
  SKINMTL_USER_CHECK(unlabelled.empty(), labels_csv << ": no row for " << unlabelled.size() << " of " << d.all.size()
                                                    << " images (image_id is the image's file name without "
                                                       "extension): "
                                                    << name_list(unlabelled));
  desc << "; labels " << labels_csv << ": melanoma " << melanoma << ", seborrheic_keratosis " << sk;
  if (t.rows.size() > d.all.size()) desc << " (" << t.rows.size() - d.all.size() << " rows for other images ignored)";
  d.description = desc.str();
  return d;
}

}  // namespace skinmtl
