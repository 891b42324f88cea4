// The synthetic data set as a folder (write_synth_dataset in io/synthetic.h):
// the images and masks as files, the manifest CSVs with every label, and a
// README; and the split rule, which puts sample i in train, val or test.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "io/image.h"
#include "io/progress.h"
#include "io/synthetic.h"

namespace fs = std::filesystem;

namespace skinmtl {

// ---- the split rule ----------------------------------------------------------------------------

// Sample i is "val" when i % 10 == 8, "test" when i % 10 == 9, else "train":
// a sample keeps its split when n grows.
const char* synth_split(int64_t index) {
  const int64_t r = index % 10;
  return r == 8 ? "val" : r == 9 ? "test" : "train";
}

// ---- the folder --------------------------------------------------------------------------------

namespace {

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  SKINMTL_CHECK(f, "synth: cannot write " << path);
  f << text;
  f.close();
  SKINMTL_CHECK(f, "synth: writing " << path << " failed");
}

const char* kCsvHeader =
    "image,mask,lesions,location,id,split,diagnosis,melanoma,seborrheic_keratosis,malignant,"
    "box_x0,box_y0,box_x1,box_y1,border_irregularity,colours\n";

std::string csv_row(const SynthSample& s, int64_t index, const std::string& stem) {
  std::string lesions;
  for (int k : s.lesions) lesions += std::string(lesions.empty() ? "" : ";") + kSynthLesionNames[k];
  char tail[256];
  std::snprintf(tail, sizeof tail, "%s,%d,%d,%d,%d,%d,%d,%d,%.3f,%d", kSynthDiagnosisNames[s.diagnosis],
                (int)s.melanoma(), (int)s.seborrheic_keratosis(), (int)s.malignant(), s.box.x0,
                s.box.y0, s.box.x1, s.box.y1, s.border_irregularity, s.colours);
  return "images/" + stem + ".jpg,masks/" + stem + ".png," + lesions + "," +
         kSynthSiteNames[s.location] + ",synth_" + stem + "," + synth_split(index) + "," + tail +
         "\n";
}

}  // namespace

SynthWriteResult write_synth_dataset(const std::string& dir, const SynthWriteOptions& o) {
  SKINMTL_CHECK(o.n > 0, "synth: the number of samples must be positive, got " << o.n);
  SKINMTL_CHECK(o.jpeg_quality >= 1 && o.jpeg_quality <= 100,
                "synth: JPEG quality must be in [1, 100], got " << o.jpeg_quality);
  SKINMTL_CHECK(o.synth.size >= 32 && o.synth.size <= 4096,
                "synth: image size must be in [32, 4096], got " << o.synth.size);
  const auto t0 = std::chrono::steady_clock::now();
  fs::create_directories(fs::path(dir) / "images");
  fs::create_directories(fs::path(dir) / "masks");
  // File names: the index, zero-padded to at least 6 digits.
  const int digits = std::max<int>(6, (int)std::to_string(o.n - 1).size());
  auto stem = [&](int64_t i) {
    std::string s = std::to_string(i);
    return std::string(digits - s.size(), '0') + s;
  };
  const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
  const int64_t n_sheet = std::min<int64_t>(o.contact_sheet, o.n);
  std::vector<std::string> rows((size_t)o.n), errors((size_t)o.n);
  std::vector<SynthSample> sheet((size_t)n_sheet);
  std::unique_ptr<Progress> bar;
  if (o.progress) bar = std::make_unique<Progress>(o.n, "synth");
  // Blocks of samples in parallel; the progress bar is drawn between blocks
  // (Progress is not thread-safe).
  const int64_t block = std::max<int64_t>(16, 4 * threads);
  for (int64_t b0 = 0; b0 < o.n; b0 += block) {
    const int64_t b1 = std::min(o.n, b0 + block);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t i = b0; i < b1; ++i) {
      try {
        SynthSample s = synth_sample(o.seed, i, o.synth);
        const std::string name = stem(i);
        save_jpeg((fs::path(dir) / "images" / (name + ".jpg")).string(), s.image, o.jpeg_quality);
        save_png((fs::path(dir) / "masks" / (name + ".png")).string(), s.mask);
        rows[i] = csv_row(s, i, name);
        if (i < n_sheet) sheet[i] = std::move(s);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
    for (int64_t i = b0; i < b1; ++i) SKINMTL_CHECK(errors[i].empty(), "synth: sample " << i << ": " << errors[i]);
    if (bar) bar->update(b1);
  }
  if (bar) bar->finish();

  SynthWriteResult result;
  std::string all = kCsvHeader, split_text[3] = {kCsvHeader, kCsvHeader, kCsvHeader};
  for (int64_t i = 0; i < o.n; ++i) {
    all += rows[i];
    const std::string sp = synth_split(i);
    const int k = sp == "train" ? 0 : sp == "val" ? 1 : 2;
    split_text[k] += rows[i];
    (k == 0 ? result.train : k == 1 ? result.val : result.test)++;
  }
  result.manifest = (fs::path(dir) / "manifest.csv").string();
  write_text_file(result.manifest, all);
  write_text_file((fs::path(dir) / "train.csv").string(), split_text[0]);
  write_text_file((fs::path(dir) / "val.csv").string(), split_text[1]);
  write_text_file((fs::path(dir) / "test.csv").string(), split_text[2]);
  if (n_sheet > 0) save_png((fs::path(dir) / "contact_sheet.png").string(), synth_contact_sheet(sheet));

  std::ostringstream readme;
  readme << "Synthetic skin-lesion data set written by `skinmtl synth` (io/synthetic.h describes\n"
            "how each label is rendered).\n\n"
         << "samples " << o.n << "  size " << o.synth.size << "x" << o.synth.size << "  seed "
         << o.seed << "  jpeg_quality " << o.jpeg_quality << "\n"
         << "splits  train " << result.train << "  val " << result.val << "  test " << result.test
         << "  (sample i: val if i % 10 == 8, test if i % 10 == 9)\n\nlesion types:";
  for (const char* name : kSynthLesionNames) readme << " " << name;
  readme << "\nlocations:";
  for (const char* name : kSynthSiteNames) readme << " " << name;
  readme << "\ndiagnoses:";
  for (const char* name : kSynthDiagnosisNames) readme << " " << name;
  readme << "\n\nmanifest.csv: every sample; train.csv, val.csv, test.csv: one split each.\n"
            "box_x0,box_y0,box_x1,box_y1: the mask's bounding box, half-open (x1 = last column + 1).\n";
  write_text_file((fs::path(dir) / "README.txt").string(), readme.str());
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

void ensure_synth_dataset(const std::string& manifest, const SynthWriteOptions& options) {
  if (fs::exists(manifest)) return;
  const std::string dir = fs::path(manifest).parent_path().string();
  SKINMTL_CHECK(fs::path(manifest).filename() == "manifest.csv",
                "no synthetic data set at " << manifest << ", and it cannot be generated there: "
                "write_synth_dataset writes DIR/manifest.csv, and this path is not named manifest.csv");
  std::fprintf(stderr, "no synthetic data set at %s: generating one in %s\n", manifest.c_str(),
               dir.empty() ? "." : dir.c_str());
  write_synth_dataset(dir.empty() ? "." : dir, options);
}

}  // namespace skinmtl
