// tests/io_test_util.h: what the image, manifest and loader tests share: a
// temporary folder that removes itself, small file writers, synthetic images,
// and where the real data sets are.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "framework/random.h"
#include "io/image.h"

namespace skinmtl::test {

// A fresh folder under the system's temp folder, deleted with its contents.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("skinmtl_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // The full path of `name` inside the folder.
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

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
