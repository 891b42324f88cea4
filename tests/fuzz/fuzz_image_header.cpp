// Fuzz target: an image or mask file as training meets it: the quick check
// every file gets before the first step (image_file_problem: regular file,
// size, header, pixel limit, JPEG / PNG end markers), then, when that finds
// nothing wrong, the full decode of an image and of a ground-truth mask.
// SKINMTL_MAX_PIXELS is set low (1 megapixel) so a header that claims a huge
// image is refused quickly, as the default limit refuses larger ones.
#include <cstdlib>

#include "io/image.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("SKINMTL_MAX_PIXELS", "1000000", 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skinmtl;
  const std::string path = fuzz::write_input(data, size, ".img");
  std::string problem;
  fuzz::expect_parse_or_error([&] { problem = image_file_problem(path); });
  if (problem.empty()) {
    fuzz::expect_parse_or_error([&] { load_image(path); });
    fuzz::expect_parse_or_error([&] { load_truth_mask(path); });
  }
  fuzz::expect_parse_or_error([&] { decode_image(data, size, "fuzz input"); });
  return 0;
}
