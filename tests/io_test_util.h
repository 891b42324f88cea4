// tests/io_test_util.h: what the image, manifest and loader tests share:
// synthetic images and where the real data sets are (the temporary folder and
// the file helpers are tests/temp_dir.h's).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "framework/random.h"
#include "io/image.h"
#include "tests/temp_dir.h"

namespace skinmtl::test {

// An image of uniform random pixels.
inline Image random_image(int h, int w, int c, Rng& rng) {
  Image img(h, w, c);
  for (uint8_t& v : img.data) v = (uint8_t)rng.randint(0, 256);
  return img;
}

// The folder holding ham10000/ and isic2017/: $SKINMTL_DATA_DIR, else
// ../shared/data (tests run from the repository root).
inline std::string real_data_dir() {
  const char* env = std::getenv("SKINMTL_DATA_DIR");
  return env && *env ? env : "../shared/data";
}

}  // namespace skinmtl::test
