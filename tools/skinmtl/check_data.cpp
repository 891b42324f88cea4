// skinmtl check-data: every file of a data set looked at before any training
// time is spent.
//
// The rows are read as the training commands read them (labels, ids, splits:
// the first bad row stops with its file and line), then every image and mask
// is checked in parallel (io/manifest.h check_images): that it exists, that
// its header reads within the pixel limit, that a JPEG or PNG is not cut
// short; with --decode, every pixel is decoded too and masks are read as
// training reads them (0/1 masks accepted, masks no threshold can read
// refused). All problems are listed at once, with the CSV line of each; the
// exit status is 1 when there is any.
#include <chrono>
#include <cstdio>
#include <string>

#include "io/csv.h"
#include "io/manifest.h"
#include "io/seg_data.h"
#include "io/synthetic.h"
#include "app/args.h"
#include "tools/skinmtl/commands.h"

namespace skinmtl {
namespace {

const char* kHelp =
    "usage: skinmtl check-data --data NAME [options]\n"
    "\n"
    "Checks a data set's rows and files before training: labels, ids and splits as the\n"
    "training commands read them, then every image and mask (exists, header readable,\n"
    "within the pixel limit, JPEG/PNG not truncated). Lists every problem with its CSV\n"
    "line; exit status 1 when there is any, 0 when the data is clean.\n"
    "\n"
    "options:\n"
    "  --data NAME         ham10000 | isic2017 | synthetic | a manifest CSV (image,lesions,...)\n"
    "                      | a segmentation CSV (image,mask,melanoma,seborrheic_keratosis,...)\n"
    "  --data-dir DIR      where ham10000/ and isic2017/ are (default ../shared/data)\n"
    "  --decode            also decode every image and mask (slow; finds corrupt pixel data\n"
    "                      and masks whose values no threshold can read)\n"
    "  --max-lines N       problems to list (default 50; the counts are always complete)\n";

// The data set as one Manifest of every row with its image and (if any) mask.
Manifest rows_of(const std::string& data, const std::string& data_dir) {
  auto after_colon = [&](const std::string& fallback) {
    const size_t c = data.find(':');
    return c == std::string::npos ? fallback : data.substr(c + 1);
  };
  if (data == "synthetic" || data.rfind("synthetic:", 0) == 0) {
    const std::string manifest = after_colon("data/synthetic/manifest.csv");
    ensure_synth_dataset(manifest);
    return read_manifest(manifest);
  }
  if (data == "ham10000" || data.rfind("ham10000:", 0) == 0)
    return load_ham10000(after_colon(data_dir + "/ham10000/labels.csv"));
  if (data == "isic2017" || data.rfind("isic2017:", 0) == 0)
    return load_isic2017(after_colon(data_dir + "/isic2017/labels.csv"), "");
  // A CSV: a classification manifest has a lesions column, a segmentation one a mask column.
  const CsvTable t = read_csv(data);
  if (t.column("lesions") >= 0) return read_manifest(data);
  SKINMTL_USER_CHECK(t.column("mask") >= 0,
                     data << ":1: neither a manifest (no 'lesions' column) nor a segmentation CSV (no "
                             "'mask' column)");
  return seg_manifest(read_seg_csv(data), data);
}

}  // namespace

int cmd_check_data(int argc, char** argv) {
  Args args(argc, argv, {"data", "data-dir", "max-lines"}, {"decode"});
  if (args.help()) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  SKINMTL_USER_CHECK(args.has("data"), "--data is required (see 'skinmtl check-data --help')");
  const std::string data = args.get("data", "");
  const bool decode = args.has("decode");
  const int64_t max_lines = args.get_int("max-lines", 50);
  SKINMTL_USER_CHECK(max_lines >= 0, "--max-lines must be >= 0");
  const auto t0 = std::chrono::steady_clock::now();
  const Manifest m = rows_of(data, args.get("data-dir", "../shared/data"));
  size_t masks = 0;
  for (const Sample& s : m.samples) masks += !s.mask.empty();
  std::printf("skinmtl check-data: %s: %zu rows read (%zu with a mask); checking the files%s\n",
              data.c_str(), m.size(), masks, decode ? " and decoding them" : "");
  const ManifestCheck c = check_images(m, decode);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s\n", c.report((size_t)max_lines).c_str());
  std::printf("%s in %.1f s\n", c.ok() ? "clean" : "PROBLEMS FOUND", s);
  return c.ok() ? 0 : 1;
}

}  // namespace skinmtl
