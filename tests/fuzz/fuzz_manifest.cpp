// Fuzz target: a classifier manifest (io/manifest.h): header, labels,
// classes, splits, duplicate ids, file names. Only the CSV is read here (the
// images it names do not exist); check_images is the image target's part.
#include "io/manifest.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skinmtl;
  const std::string path = fuzz::write_input(data, size, ".csv");
  fuzz::expect_parse_or_error([&] { read_manifest(path); });
  ManifestOptions fixed;
  fixed.lesion_classes = {"mel", "nv", "bkl"};
  fixed.location_classes = {"back", "face"};
  fuzz::expect_parse_or_error([&] { read_manifest(path, fixed); });
  return 0;
}
